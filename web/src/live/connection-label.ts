import type { LiveState } from '@pcf/sdk/live';

export type ConnectionTone = 'ok' | 'pending' | 'down';

/** What the connection badge says (no DOM: unit-tested). The browser's offline wins: nothing can connect. */
export function connectionLabel(state: LiveState, online: boolean): { text: string; tone: ConnectionTone } {
  if (!online) return { text: 'Offline', tone: 'down' };
  switch (state) {
    case 'connected':
      return { text: 'Live', tone: 'ok' };
    case 'connecting':
      return { text: 'Connecting…', tone: 'pending' };
    case 'reconnecting':
      return { text: 'Reconnecting…', tone: 'pending' };
    case 'idle':
      return { text: 'Offline', tone: 'down' };
  }
}
