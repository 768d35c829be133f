import { isPcfError, type PermissionPreview, type PermissionPreviewInput } from '@pcf/sdk';
import { useEffect, useState } from 'preact/hooks';
import { pcf } from '../client.js';
import { explain } from '../ui/errors.js';
import { parseConditions, splitProblems, type ConditionProblem } from './conditions.js';

/** How long typing must pause before the server is asked. */
export const PREVIEW_DELAY_MS = 400;
const PREVIEW_LIMIT = 20;

export type PreviewState =
  | { kind: 'idle' }
  | { kind: 'json'; message: string; line?: number; column?: number }
  | { kind: 'checking' }
  | { kind: 'invalid'; message: string; problems: ConditionProblem[]; other: { field: string; message: string }[] }
  | { kind: 'failed'; error: unknown }
  | { kind: 'valid'; preview: PermissionPreview };

/**
 * The server's verdict on a permission as it is typed: JSON is checked at once, then, after a
 * pause, POST /permissions/preview validates it as a grant would and lists what it matches.
 * A newer input aborts the request of an older one, so an old answer never wins.
 */
export function usePreview(input: { resourceType: string; action: PermissionPreviewInput['action']; text: string; userId?: string }): PreviewState {
  const { resourceType, action, text, userId } = input;
  const [state, setState] = useState<PreviewState>({ kind: 'idle' });

  useEffect(() => {
    const parsed = parseConditions(text);
    if (!parsed.ok) {
      setState({ kind: 'json', message: parsed.message, line: parsed.line, column: parsed.column });
      return;
    }
    if (resourceType.trim() === '') {
      setState({ kind: 'idle' });
      return;
    }
    setState({ kind: 'checking' });
    const controller = new AbortController();
    const timer = setTimeout(() => {
      pcf.permissions
        .preview({ resourceType: resourceType.trim(), action, conditions: parsed.conditions, userId, limit: PREVIEW_LIMIT }, { signal: controller.signal })
        .then((preview) => setState({ kind: 'valid', preview }))
        .catch((error: unknown) => {
          if (controller.signal.aborted) return;
          if (isPcfError(error) && error.code === 'INVALID_INPUT') {
            const explained = explain(error);
            const { conditions, other } = splitProblems(explained.fields);
            setState({ kind: 'invalid', message: explained.message, problems: conditions, other });
          } else setState({ kind: 'failed', error });
        });
    }, PREVIEW_DELAY_MS);
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
  }, [resourceType, action, text, userId]);

  return state;
}
