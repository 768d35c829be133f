/** The seeded roles of migration 0002 (DESIGN §5 "Permissions"); their ids are fixed. */
export const ADMIN_ROLE_ID = '00000000-0000-7000-8000-000000000001';
export const MEMBER_ROLE_ID = '00000000-0000-7000-8000-000000000002';
