import type { LiveState } from '@pcf/sdk/live';
import { useEffect, useState } from 'preact/hooks';
import { pcf } from '../client.js';
import { connectionLabel } from './connection-label.js';
import './live.css';

function useLiveState(): LiveState {
  const [state, setState] = useState<LiveState>(pcf.live.state);
  useEffect(() => {
    setState(pcf.live.state);
    return pcf.live.onStateChange(setState);
  }, []);
  return state;
}

function useOnline(): boolean {
  const [online, setOnline] = useState(navigator.onLine);
  useEffect(() => {
    const update = () => setOnline(navigator.onLine);
    window.addEventListener('online', update);
    window.addEventListener('offline', update);
    return () => {
      window.removeEventListener('online', update);
      window.removeEventListener('offline', update);
    };
  }, []);
  return online;
}

/**
 * The live connection as a small badge in the top bar: "Live", "Connecting…", "Reconnecting…"
 * or "Offline". It recovers by itself (the SDK reconnects); this only shows it.
 */
export function ConnectionIndicator() {
  const { text, tone } = connectionLabel(useLiveState(), useOnline());
  return (
    <span class={`connection connection-${tone}`} role="status" aria-live="polite" title="Live updates">
      <span class="connection-dot" aria-hidden="true" />
      <span class="connection-text">{text}</span>
    </span>
  );
}
