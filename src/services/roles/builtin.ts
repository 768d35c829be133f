import { appError } from '../../core/errors.js';
import type { Database } from '../../infra/database/index.js';

/** The seeded roles of migration 0002 (DESIGN §5 "Permissions"); their ids are fixed. */
export const ADMIN_ROLE_ID = '00000000-0000-7000-8000-000000000001';
export const MEMBER_ROLE_ID = '00000000-0000-7000-8000-000000000002';

/** Refuses to remove the admin role from its last holder (by deletion or unassignment). */
export async function assertNotLastAdmin(db: Database['db'], userId: string, roleId: string = ADMIN_ROLE_ID): Promise<void> {
  if (roleId !== ADMIN_ROLE_ID) return;
  // Locking the admin role's row serialises concurrent removals of admins.
  await db.selectFrom('roles').select('id').where('id', '=', ADMIN_ROLE_ID).forUpdate().execute();
  const admins = await db.selectFrom('user_roles').select('user_id').where('role_id', '=', ADMIN_ROLE_ID).limit(2).execute();
  if (admins.length === 1 && admins[0]!.user_id === userId) {
    throw appError('CONFLICT', 'This is the last admin; make another user an admin first.');
  }
}
