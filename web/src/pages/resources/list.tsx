import type { ResourceSummary } from '@pcf/sdk';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { PageProps } from '../../app.js';
import { pcf } from '../../client.js';
import { href } from '../../router.js';
import { useSession } from '../../session.js';
import { Empty, ErrorMessage, Loading } from '../../ui/feedback.js';
import { Page } from '../../ui/page.js';
import { ListFilterForm } from './filter-form.js';
import { formatBytes, formatTime, ownerLabel, shownCount } from './format.js';
import { apiFilters, filtersFromQuery, isFiltered } from './list-query.js';
import './documents.css';

/** How many documents one "Load more" adds. */
const PAGE_SIZE = 25;

interface Listing {
  items: ResourceSummary[];
  nextCursor: string | null;
}

export function ResourcesPage({ route }: PageProps) {
  const { me, refresh } = useSession();
  const myId = me?.user.id ?? '';
  const filters = filtersFromQuery(route.query);
  const query = apiFilters(filters, myId);
  const key = JSON.stringify(query);
  // The listing names the filter it is for: a page that arrives for an older filter is dropped.
  const [stored, setListing] = useState<Listing & { key: string }>();
  const listing = stored?.key === key ? stored : undefined;
  const [error, setError] = useState<unknown>();
  const [loadingMore, setLoadingMore] = useState(false);
  const moreButton = useRef<HTMLButtonElement>(null);
  const firstNew = useRef<HTMLAnchorElement>(null);
  const [focusId, setFocusId] = useState<string>();
  /** Aborted when the filter changes (or the page goes): cancels the first page and any "Load more". */
  const listingCalls = useRef<AbortController | undefined>(undefined);

  // A new filter: the first page, from scratch; a response for an older filter is dropped.
  useEffect(() => {
    const controller = new AbortController();
    listingCalls.current = controller;
    setListing(undefined);
    setError(undefined);
    setLoadingMore(false);
    setFocusId(undefined);
    pcf.resources
      .list({ ...query, limit: PAGE_SIZE }, { signal: controller.signal })
      .page()
      .then(
        (page) => !controller.signal.aborted && setListing({ key, items: page.items, nextCursor: page.nextCursor }),
        (e: unknown) => !controller.signal.aborted && setError(e),
      );
    return () => controller.abort();
  }, [key]);

  // The storage figure is the account's as read at sign-in: read it again for this page.
  useEffect(() => {
    void refresh();
  }, [refresh]);

  // After "Load more", the first new row takes the focus, so the keyboard goes on from there.
  useEffect(() => {
    if (focusId !== undefined) firstNew.current?.focus();
  }, [focusId]);

  const loadMore = async () => {
    const controller = listingCalls.current;
    if (!listing?.nextCursor || !controller) return;
    const cursor = listing.nextCursor;
    setLoadingMore(true);
    setError(undefined);
    try {
      const page = await pcf.resources.list({ ...query, limit: PAGE_SIZE }, { signal: controller.signal }).page(cursor);
      if (controller.signal.aborted) return;
      setFocusId(page.items[0]?.id);
      setListing((current) => {
        // Another filter, or another "Load more" got there first: this page is not the next one.
        if (!current || current.key !== key || current.nextCursor !== cursor) return current;
        const known = new Set(current.items.map((doc) => doc.id));
        return { key, items: [...current.items, ...page.items.filter((doc) => !known.has(doc.id))], nextCursor: page.nextCursor };
      });
    } catch (e) {
      if (!controller.signal.aborted) setError(e);
    } finally {
      if (!controller.signal.aborted) setLoadingMore(false);
    }
  };

  return (
    <Page
      title="Documents"
      actions={
        <a class="button primary" href={href('/resources/new')}>
          New document
        </a>
      }
    >
      <ListFilterForm filters={filters} />
      {me?.usage && (
        <p class="hint">
          Your documents use {formatBytes(me.usage.storageBytes)}
          {me.usage.storageQuotaBytes !== null ? ` of ${formatBytes(me.usage.storageQuotaBytes)}` : ''}.
        </p>
      )}
      {error !== undefined && <ErrorMessage error={error} title="The documents could not be listed." />}
      {!listing && error === undefined && <Loading label="Loading documents…" />}
      {listing && listing.items.length === 0 && (
        <Empty>
          {isFiltered(filters) ? (
            <>
              No document matches these filters. <a href={href('/resources')}>Show all documents</a>.
            </>
          ) : (
            <>
              No documents yet. <a href={href('/resources/new')}>Create your first document</a>.
            </>
          )}
        </Empty>
      )}
      {listing && listing.items.length > 0 && (
        <>
          <p class="documents-count" role="status">
            {shownCount(listing.items.length, listing.nextCursor !== null)}
          </p>
          <div class="table-wrap">
            <table class="documents-table">
              <caption class="sr-only">Documents</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Type</th>
                  <th scope="col" class="hide-narrow">
                    Owner
                  </th>
                  <th scope="col" class="hide-narrow">
                    Version
                  </th>
                  <th scope="col">Updated</th>
                </tr>
              </thead>
              <tbody>
                {listing.items.map((doc) => (
                  <tr key={doc.id}>
                    <td class="documents-name">
                      <a href={href(`/resources/${encodeURIComponent(doc.id)}`)} ref={doc.id === focusId ? firstNew : undefined}>
                        {doc.name}
                      </a>
                    </td>
                    <td>
                      <code>{doc.type}</code>
                    </td>
                    <td class="hide-narrow" title={doc.ownerId}>
                      {ownerLabel(doc.ownerId, myId)}
                    </td>
                    <td class="hide-narrow">{doc.version}</td>
                    <td>
                      <time dateTime={doc.updatedAt}>{formatTime(doc.updatedAt)}</time>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {listing.nextCursor !== null && (
            <p>
              <button type="button" ref={moreButton} onClick={loadMore} disabled={loadingMore}>
                {loadingMore ? 'Loading…' : 'Load more'}
              </button>
            </p>
          )}
        </>
      )}
    </Page>
  );
}
