import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { comparedVersions, relativeTime, shareActions, shortId, versionParam } from '../../web/src/pages/resources/history-model.js';

describe('console: the history and sharing pages’ model', () => {
  it('compares the versions the query names, else the previous and the current', () => {
    assert.deepEqual(comparedVersions(new URLSearchParams('a=2&b=5'), 6), { a: 2, b: 5 });
    assert.deepEqual(comparedVersions(new URLSearchParams(''), 6), { a: 5, b: 6 });
    assert.deepEqual(comparedVersions(new URLSearchParams(''), 1), { a: 1, b: 1 });
    // A version past the current, or no number at all, falls back to the default for its side.
    assert.deepEqual(comparedVersions(new URLSearchParams('a=9&b=x'), 6), { a: 5, b: 6 });
    assert.deepEqual(comparedVersions(new URLSearchParams('a=6&b=2'), 6), { a: 6, b: 2 });
  });

  it('reads a version number only when it is a positive whole number the API accepts', () => {
    assert.equal(versionParam('3'), 3);
    for (const bad of [null, undefined, '', '0', '-1', '1.5', '03', '1e3', ' 2', '2147483648', '99999999999'])
      assert.equal(versionParam(bad), undefined, String(bad));
    assert.equal(versionParam('2147483647'), 2147483647);
  });

  it('says a moment relative to now', () => {
    const now = new Date('2024-05-10T12:00:00Z');
    const ago = (seconds: number) => relativeTime(new Date(now.getTime() - seconds * 1000), now, 'en');
    assert.equal(ago(10), 'just now');
    assert.equal(ago(50), '1 minute ago');
    assert.equal(ago(5 * 60), '5 minutes ago');
    assert.equal(ago(3 * 3600), '3 hours ago');
    assert.equal(ago(26 * 3600), 'yesterday');
    assert.equal(ago(400 * 24 * 3600), 'last year');
  });

  it('shortens an id, and leaves a short one whole', () => {
    assert.equal(shortId('0c9f3a52-1111-4222-8333-444455556666'), '0c9f3a52…');
    assert.equal(shortId('abc'), 'abc');
  });

  it('always shares read, with whichever other actions were ticked, in the server’s order', () => {
    assert.deepEqual(shareActions([]), ['read']);
    assert.deepEqual(shareActions(['delete', 'update']), ['read', 'update', 'delete']);
    assert.deepEqual(shareActions(['read', 'delete']), ['read', 'delete']);
  });
});
