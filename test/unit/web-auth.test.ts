import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { administers } from '../../web/src/access.js';
import { connectionLabel } from '../../web/src/live/connection-label.js';
import { describeNotification } from '../../web/src/live/describe.js';
import { invalidProps, problemOf } from '../../web/src/pages/auth/fields.js';
import { describeUserAgent, formatBytes, formatDateTime, usedPercent } from '../../web/src/pages/auth/format.js';

/** The console's account and live helpers that are not UI: formatting, field errors, access, labels. */

describe('web: account formatting', () => {
  it('formats bytes in binary units', () => {
    assert.equal(formatBytes(0), '0 bytes');
    assert.equal(formatBytes(1), '1 byte');
    assert.equal(formatBytes(1023), '1023 bytes');
    assert.equal(formatBytes(1536), '1.5 KB');
    assert.equal(formatBytes(256 * 1024 * 1024), '256 MB');
    assert.equal(formatBytes(-1), '—');
  });

  it('gives the share of a quota used, never 100 before it is full, none without a quota', () => {
    assert.equal(usedPercent(50, 200), 25);
    assert.equal(usedPercent(999, 1000), 99);
    assert.equal(usedPercent(5000, 1000), 100);
    assert.equal(usedPercent(10, null), undefined);
  });

  it('names a device from its user agent', () => {
    assert.equal(
      describeUserAgent('Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36'),
      'Headless Chrome on Linux',
    );
    assert.equal(describeUserAgent('Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0'), 'Firefox on Windows');
    assert.equal(
      describeUserAgent(
        'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1',
      ),
      'Safari on iOS',
    );
    assert.equal(describeUserAgent('curl/8.5.0'), 'curl');
    assert.equal(describeUserAgent('SomethingElse/1'), 'SomethingElse/1');
    assert.equal(describeUserAgent(null), 'Unknown device');
  });

  it('formats a timestamp, and leaves a malformed one as it came', () => {
    assert.match(formatDateTime('2024-03-05T10:20:00Z', 'en-GB'), /2024/);
    assert.equal(formatDateTime('not a date'), 'not a date');
  });
});

describe('web: field errors', () => {
  const fields = [
    { field: 'password', message: 'must NOT have fewer than 8 characters' },
    { field: '/email', message: 'is taken' },
    { field: 'password', message: 'is too common' },
  ];

  it('joins the problems of one field, with or without a leading slash', () => {
    assert.equal(problemOf(fields, 'password'), 'must NOT have fewer than 8 characters; is too common');
    assert.equal(problemOf(fields, 'email'), 'is taken');
    assert.equal(problemOf(fields, 'name'), undefined);
  });

  it('marks an input invalid and points it at its error only when there is one', () => {
    assert.deepEqual(invalidProps('x', 'is taken'), { 'aria-invalid': true, 'aria-describedby': 'x-error' });
    assert.deepEqual(invalidProps('x', undefined), {});
  });
});

describe('web: who administers', () => {
  const permission = (resourceType: string, action: 'read' | 'manage' | 'create', conditions: Record<string, unknown> | null = null) => ({
    id: '00000000-0000-7000-8000-000000000001',
    resourceType,
    action,
    conditions,
  });

  it('is not a member, who reads only its own user and its own resources', () => {
    const member = [permission('*', 'create'), permission('*', 'read', { ownerId: '${user.id}' }), permission('user', 'read', { id: '${user.id}' })];
    assert.equal(administers({ permissions: member } as never), false);
  });

  it('is whoever manages or reads other users, or manages everything', () => {
    assert.equal(administers({ permissions: [permission('*', 'manage')] } as never), true);
    assert.equal(administers({ permissions: [permission('user', 'manage')] } as never), true);
    assert.equal(administers({ permissions: [permission('user', 'read', { email: { $regex: '@team' } })] } as never), true);
    assert.equal(administers(null), false);
  });
});

describe('web: connection label', () => {
  it('says Live, Connecting, Reconnecting, or Offline (the browser offline wins)', () => {
    assert.deepEqual(connectionLabel('connected', true), { text: 'Live', tone: 'ok' });
    assert.deepEqual(connectionLabel('connecting', true), { text: 'Connecting…', tone: 'pending' });
    assert.deepEqual(connectionLabel('reconnecting', true), { text: 'Reconnecting…', tone: 'pending' });
    assert.deepEqual(connectionLabel('idle', true), { text: 'Offline', tone: 'down' });
    assert.deepEqual(connectionLabel('connected', false), { text: 'Offline', tone: 'down' });
  });
});

describe('web: notification text', () => {
  it('says who did what to which document, and links to it', () => {
    const shared = describeNotification({
      kind: 'resource.shared',
      payload: { actorName: 'Bea', resourceName: 'Plan', resourceId: 'r/1', actions: ['read', 'update'] },
    });
    assert.deepEqual(shared, { text: 'Bea shared “Plan” with you (read, update)', route: '/resources/r%2F1' });
    assert.deepEqual(describeNotification({ kind: 'resource.deleted', payload: { resourceName: 'Old' } }), { text: 'Someone deleted “Old”' });
    assert.equal(
      describeNotification({ kind: 'resource.restored', payload: { resourceId: 'x', restoredFrom: 2 } }).text,
      'Someone restored a document to version 2',
    );
  });

  it('describes roles, permissions and a new sign-in', () => {
    assert.equal(describeNotification({ kind: 'role.assigned', payload: { actorName: 'Root', roleName: 'editor' } }).text, 'Root gave you the role editor');
    assert.equal(
      describeNotification({ kind: 'permission.granted', payload: { action: 'read', resourceType: 'invoice' } }).text,
      'Someone allowed you to read invoice',
    );
    assert.deepEqual(describeNotification({ kind: 'login.new', payload: { userAgent: 'curl/8.5.0', ip: '10.0.0.1' } }), {
      text: 'New sign-in to your account: curl, 10.0.0.1',
      route: '/account/sessions',
    });
  });
});
