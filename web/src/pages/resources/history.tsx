import type { JsonPatch, Resource, Version, VersionSummary } from '@pcf/sdk';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { PageProps } from '../../app.js';
import { pcf } from '../../client.js';
import { navigate } from '../../router.js';
import { useSession } from '../../session.js';
import { ErrorMessage, Loading } from '../../ui/feedback.js';
import { JsonDiff } from '../../ui/json-diff.js';
import { describeOperation } from '../../ui/json-diff-model.js';
import { ConfirmDialog } from '../../ui/confirm-dialog.js';
import { Page } from '../../ui/page.js';
import { absoluteTime, comparedVersions, relativeTime, shortId } from './history-model.js';
import { RecordTabs } from './tabs.js';
import './history.css';

/**
 * A document's versions, newest first: who made each and when, any two compared (the route
 * keeps which: `?a=2&b=5`), and any earlier one restored as a new version.
 */
export function HistoryPage({ params, route }: PageProps) {
  const id = params.id ?? '';
  const { me, isAdmin } = useSession();
  const [resource, setResource] = useState<Resource>();
  const [versions, setVersions] = useState<VersionSummary[]>();
  const [nextCursor, setNextCursor] = useState<string | null>(null);
  const [loadError, setLoadError] = useState<unknown>();
  const [names, setNames] = useState<ReadonlyMap<string, string>>(new Map());
  const [notice, setNotice] = useState<string>();
  const noticeRef = useRef<HTMLParagraphElement>(null);

  const load = useCallback(async () => {
    const [current, first] = await Promise.all([pcf.resources.get(id), pcf.resources.versions(id).page()]);
    setResource(current);
    setVersions(first.items);
    setNextCursor(first.nextCursor);
    return current;
  }, [id]);

  useEffect(() => {
    setResource(undefined);
    setVersions(undefined);
    setLoadError(undefined);
    load().catch(setLoadError);
  }, [load]);

  // Authors are ids; the names this person may know are their own and, for whoever manages
  // the shares, the people it is shared with (who are the other authors, as a rule).
  useEffect(() => {
    if (!resource || !me) return;
    const known = new Map<string, string>([[me.user.id, `${me.user.name || me.user.email} (you)`]]);
    setNames(known);
    if (resource.ownerId !== me.user.id && !isAdmin) return;
    pcf.resources
      .shares(id)
      .then((shares) => setNames(new Map([...shares.map((s): [string, string] => [s.userId, s.name]).filter(([, name]) => name), ...known])))
      .catch(() => undefined);
  }, [resource?.ownerId, me, isAdmin, id]);

  useEffect(() => {
    if (notice) noticeRef.current?.focus();
  }, [notice]);

  const title = resource ? `History of ${resource.name}` : 'History';
  if (loadError !== undefined) {
    return (
      <Page title={title}>
        <RecordTabs id={id} current="history" />
        <ErrorMessage error={loadError} title="The history could not be read." />
      </Page>
    );
  }
  if (!resource || !versions) {
    return (
      <Page title={title}>
        <RecordTabs id={id} current="history" />
        <Loading label="Loading the history…" />
      </Page>
    );
  }

  const { a, b } = comparedVersions(route.query, resource.version);
  const compare = (next: { a: number; b: number }) => navigate(`/resources/${encodeURIComponent(id)}/history`, next, { replace: true });
  const authorOf = (userId: string | null) => (userId === null ? 'a deleted account' : (names.get(userId) ?? shortId(userId)));

  /** After the restore was made: nothing here throws, or the dialog would show it as the restore's failure. */
  const restored = async (from: number, made: Resource) => {
    setResource(made);
    // Compare what the document was with what the restore made of it.
    compare({ a: made.version - 1, b: made.version });
    const done = `Version ${from} restored: its data is now version ${made.version}.`;
    try {
      // The timeline's first page holds the new version; older pages loaded stay as they were.
      const first = await pcf.resources.versions(id).page();
      setVersions((previous) => [...first.items, ...(previous ?? []).filter((v) => v.version < (first.items[first.items.length - 1]?.version ?? 0))]);
      setNotice(done);
    } catch {
      setNotice(`${done} The list of versions could not be refreshed: reload the page to see the new one.`);
    }
  };

  return (
    <Page title={title}>
      <RecordTabs id={id} current="history" />
      {notice && (
        <p class="history-notice" role="status" tabIndex={-1} ref={noticeRef}>
          {notice}
        </p>
      )}
      <div class="history-layout">
        <Timeline
          id={id}
          versions={versions}
          current={resource.version}
          a={a}
          b={b}
          authorOf={authorOf}
          onCompare={compare}
          onRestored={restored}
          nextCursor={nextCursor}
          onMore={async () => {
            const more = await pcf.resources.versions(id).page(nextCursor);
            setVersions((previous) => [...(previous ?? []), ...more.items]);
            setNextCursor(more.nextCursor);
          }}
        />
        <Comparison id={id} a={a} b={b} />
      </div>
    </Page>
  );
}

interface TimelineProps {
  id: string;
  versions: VersionSummary[];
  current: number;
  a: number;
  b: number;
  authorOf(userId: string | null): string;
  onCompare(next: { a: number; b: number }): void;
  onRestored(from: number, made: Resource): Promise<void>;
  nextCursor: string | null;
  onMore(): Promise<void>;
}

function Timeline({ id, versions, current, a, b, authorOf, onCompare, onRestored, nextCursor, onMore }: TimelineProps) {
  const [restoring, setRestoring] = useState<number>();
  const [moreError, setMoreError] = useState<unknown>();
  const [loadingMore, setLoadingMore] = useState(false);
  const heading = useRef<HTMLHeadingElement>(null);
  const now = new Date();

  /** A failure stays in the dialog (ConfirmDialog shows it). */
  const restore = async (n: number) => {
    const made = await pcf.resources.restore(id, n);
    setRestoring(undefined);
    await onRestored(n, made);
  };

  const more = async () => {
    setLoadingMore(true);
    setMoreError(undefined);
    try {
      await onMore();
    } catch (e) {
      setMoreError(e);
    } finally {
      setLoadingMore(false);
    }
  };
  // The button goes once the last page is in: the list's heading keeps the focus near.
  useEffect(() => {
    if (nextCursor === null && document.activeElement === document.body) heading.current?.focus();
  }, [nextCursor]);

  return (
    <section class="history-timeline" aria-labelledby="versions-title">
      <h2 id="versions-title" tabIndex={-1} ref={heading}>
        Versions
      </h2>
      <p class="hint">Pick version A and version B to compare them.</p>
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Version</th>
              <th scope="col">By</th>
              <th scope="col">When</th>
              <th scope="col">
                <abbr title="Compare from">A</abbr>
              </th>
              <th scope="col">
                <abbr title="Compare to">B</abbr>
              </th>
              <th scope="col">
                <span class="sr-only">Restore</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {versions.map((version) => {
              const made = new Date(version.createdAt);
              return (
                <tr key={version.version} class={version.version === a || version.version === b ? 'history-picked' : undefined}>
                  <th scope="row">
                    {version.version}
                    {version.version === current && <span class="history-current">current</span>}
                  </th>
                  <td>{authorOf(version.createdBy)}</td>
                  <td>
                    <time dateTime={version.createdAt} title={absoluteTime(made)}>
                      {relativeTime(made, now)}
                    </time>
                  </td>
                  <td>
                    <input
                      type="radio"
                      name="compare-a"
                      aria-label={`A: version ${version.version}`}
                      checked={version.version === a}
                      onChange={() => onCompare({ a: version.version, b })}
                    />
                  </td>
                  <td>
                    <input
                      type="radio"
                      name="compare-b"
                      aria-label={`B: version ${version.version}`}
                      checked={version.version === b}
                      onChange={() => onCompare({ a, b: version.version })}
                    />
                  </td>
                  <td>
                    {version.version !== current && (
                      <button type="button" onClick={() => setRestoring(version.version)} aria-label={`Restore version ${version.version}`}>
                        Restore
                      </button>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {moreError !== undefined && <ErrorMessage error={moreError} title="Older versions could not be read." />}
      {nextCursor !== null && (
        <button type="button" onClick={more} disabled={loadingMore}>
          {loadingMore ? 'Loading…' : 'Show older versions'}
        </button>
      )}
      {restoring !== undefined && (
        <ConfirmDialog
          title={`Restore version ${restoring}?`}
          confirmLabel="Restore"
          danger={false}
          onConfirm={() => restore(restoring)}
          onClose={() => setRestoring(undefined)}
        >
          <p>
            A new version {current + 1} is made with the data of version {restoring}. Nothing is lost: version {current} and every other version stay in the
            history, and you can restore any of them later.
          </p>
        </ConfirmDialog>
      )}
    </section>
  );
}

/** Versions never change once made: read each once per page. */
const versionCache = new Map<string, Promise<Version>>();

function readVersion(id: string, n: number): Promise<Version> {
  const key = `${id}\n${n}`;
  let cached = versionCache.get(key);
  if (!cached) {
    cached = pcf.resources.version(id, n);
    // A failure is not kept: the next look tries again.
    cached.catch(() => versionCache.delete(key));
    versionCache.set(key, cached);
  }
  return cached;
}

function Comparison({ id, a, b }: { id: string; a: number; b: number }) {
  // Each answer names the pair it is for: one that arrives late for an earlier pair, or the
  // render between a new pair and its effect, never shows the wrong comparison.
  const pair = `${id}\n${a}\n${b}`;
  const [sides, setSides] = useState<{ pair: string; a: Version; b: Version }>();
  const [error, setError] = useState<{ pair: string; error: unknown }>();
  const [patch, setPatch] = useState<{ pair: string; ops: JsonPatch }>();
  const [patchError, setPatchError] = useState<{ pair: string; error: unknown }>();

  useEffect(() => {
    Promise.all([readVersion(id, a), readVersion(id, b)])
      .then(([before, after]) => setSides({ pair, a: before, b: after }))
      .catch((e: unknown) => setError({ pair, error: e }));
    pcf.resources
      .diff(id, a, b)
      .then((ops) => setPatch({ pair, ops }))
      .catch((e: unknown) => setPatchError({ pair, error: e }));
  }, [pair]);

  const shown = sides?.pair === pair ? sides : undefined;
  const failed = error?.pair === pair ? error : undefined;
  const ops = patch?.pair === pair ? patch.ops : undefined;
  const opsFailed = patchError?.pair === pair ? patchError : undefined;

  return (
    <section class="history-compare" aria-labelledby="compare-title">
      <h2 id="compare-title">
        Changes from version {a} to version {b}
      </h2>
      {failed ? (
        <ErrorMessage error={failed.error} title="The versions could not be read." />
      ) : !shown ? (
        <Loading label="Comparing…" />
      ) : (
        <JsonDiff before={shown.a.data} after={shown.b.data} beforeLabel={`Version ${a}`} afterLabel={`Version ${b}`} />
      )}
      <h3 id="paths-title">Paths changed</h3>
      {opsFailed ? (
        <ErrorMessage error={opsFailed.error} title="The server did not list the paths changed." />
      ) : !ops ? (
        <Loading label="Listing the paths changed…" />
      ) : ops.length === 0 ? (
        <p class="hint">None: both versions hold the same data.</p>
      ) : (
        <ul class="history-ops" aria-labelledby="paths-title">
          {ops.map((operation, index) => (
            <li key={index}>
              <code>{describeOperation(operation)}</code>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
