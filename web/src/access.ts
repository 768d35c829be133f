import type { Me } from '@pcf/sdk';

type Permission = Me['permissions'][number];

/** Conditions that reach only the caller's own record (`{"id": "${user.id}"}`, every member's). */
function selfOnly(conditions: Permission['conditions']): boolean {
  const keys = Object.keys(conditions ?? {});
  return keys.length === 1 && conditions?.id === '${user.id}';
}

/**
 * Whether the administration pages apply: reading or managing other users. Every member may
 * read its own user and, through `*`, its own resources: neither makes an administrator. The
 * server still decides each call; this only chooses what the console offers.
 */
export function administers(me: Pick<Me, 'permissions'> | null | undefined): boolean {
  return !!me?.permissions.some((p) => {
    if (p.action !== 'manage' && p.action !== 'read') return false;
    if (p.resourceType === 'user') return !selfOnly(p.conditions);
    // `*` with conditions is about resources (ownerId, shares); only an unconditional one reaches users.
    return p.resourceType === '*' && Object.keys(p.conditions ?? {}).length === 0;
  });
}
