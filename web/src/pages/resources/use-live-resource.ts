import type { ResourceChangedPayload } from '@pcf/sdk/live';
import { useEffect, useRef } from 'preact/hooks';
import { pcf } from '../../client.js';

export interface LiveHandlers {
  onChange(event: ResourceChangedPayload): void;
  /** The subscription ended on its own: after DELETED (no error) or when access went (NOT_FOUND). */
  onEnd(error?: unknown): void;
}

/**
 * Follows one resource's changes while the page is open; leaving the page (or another id)
 * closes the subscription. The handlers may change every render: the latest are called.
 */
export function useLiveResource(id: string, handlers: LiveHandlers): void {
  const latest = useRef(handlers);
  latest.current = handlers;
  useEffect(() => {
    const subscription = pcf.live.resource(id);
    let closed = false;
    void (async () => {
      try {
        for await (const event of subscription) latest.current.onChange(event);
        if (!closed) latest.current.onEnd();
      } catch (error) {
        if (!closed) latest.current.onEnd(error);
      }
    })();
    return () => {
      closed = true;
      void subscription.return();
    };
  }, [id]);
}
