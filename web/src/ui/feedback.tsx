import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { explain } from './errors.js';

/** A failed call, readable, with the trace id to copy for whoever runs the server. */
export function ErrorMessage({ error, title }: { error: unknown; title?: string }) {
  const { message, traceId } = explain(error);
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    if (!traceId) return;
    try {
      await navigator.clipboard.writeText(traceId);
      setCopied(true);
    } catch {
      // No clipboard (plain http on another host): the id is on screen to select by hand.
    }
  };
  return (
    <div class="error" role="alert">
      {title && <strong>{title} </strong>}
      <span class="error-message">{message}</span>
      {traceId && (
        <span class="trace">
          {' '}
          Trace <code data-testid="trace-id">{traceId}</code>{' '}
          <button type="button" class="link" onClick={copy}>
            {copied ? 'Copied' : 'Copy'}
          </button>
        </span>
      )}
    </div>
  );
}

/** Shown while something loads; announced to screen readers. */
export function Loading({ label = 'Loading…' }: { label?: string }) {
  return (
    <p class="loading" role="status" aria-live="polite">
      {label}
    </p>
  );
}

/** An empty list: what it would hold, and what to do about it. */
export function Empty({ children }: { children: ComponentChildren }) {
  return <div class="empty">{children}</div>;
}
