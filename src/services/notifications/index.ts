export * from './kinds.js';
export * from './notifications.service.js';
