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
  const [listing, setListing] = useState<Listing>();
  const [error, setError] = useState<unknown>();
  const [loadingMore, setLoadingMore] = useState(false);
  const moreButton = useRef<HTMLButtonElement>(null);
  const firstNew = useRef<HTMLAnchorElement>(null);
  const [focusIndex, setFocusIndex] = useState<number>();

  // A new filter: the first page, from scratch; a response for an older filter is dropped.
  useEffect(() => {
    const controller = new AbortController();
    setListing(undefined);
    setError(undefined);
    pcf.resources
      .list({ ...query, limit: PAGE_SIZE }, { signal: controller.signal })
      .page()
      .then(
        (page) => setListing({ items: page.items, nextCursor: page.nextCursor }),
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
    if (focusIndex !== undefined) firstNew.current?.focus();
  }, [focusIndex]);

  const loadMore = async () => {
    if (!listing?.nextCursor) return;
    setLoadingMore(true);
    setError(undefined);
    try {
      const page = await pcf.resources.list({ ...query, limit: PAGE_SIZE }).page(listing.nextCursor);
      setFocusIndex(listing.items.length);
      setListing({ items: [...listing.items, ...page.items], nextCursor: page.nextCursor });
    } catch (e) {
      setError(e);
    } finally {
      setLoadingMore(false);
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
                {listing.items.map((doc, i) => (
                  <tr key={doc.id}>
                    <td class="documents-name">
                      <a href={href(`/resources/${encodeURIComponent(doc.id)}`)} ref={i === focusIndex ? firstNew : undefined}>
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
