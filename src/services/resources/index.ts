export * from './model.js';
export { ResourcesService, type ResourcesDeps } from './resources.service.js';
export { SharesService, SHARE_ACTIONS, sharesPerOwnerAndUser, type ShareAction } from '../shares/shares.service.js';
export type { StorageUsage } from '../shared/views.js';
