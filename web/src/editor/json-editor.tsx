import { useEffect, useRef, useState } from 'preact/hooks';
import { ErrorMessage, Loading } from '../ui/feedback.js';
import type { JsonEditorHandle } from './codemirror.js';

export interface JsonEditorProps {
  /** The accessible name of the editor's text area. */
  label: string;
  value: string;
  onChange(text: string): void;
  /** Why the content is refused (syntax or the server's field error); marks it invalid. */
  problem?: string | undefined;
  minLines?: number;
}

/**
 * A JSON editor (CodeMirror 6), downloaded the first time a page shows one. The text is the
 * parent's: typing reports it through onChange, and a new `value` from outside (a reload)
 * replaces what the editor shows.
 */
export function JsonEditor({ label, value, onChange, problem, minLines }: JsonEditorProps) {
  const host = useRef<HTMLDivElement>(null);
  const editor = useRef<JsonEditorHandle | undefined>(undefined);
  const latest = useRef({ value, onChange, problem });
  latest.current = { value, onChange, problem };
  const [failed, setFailed] = useState<unknown>();
  const [ready, setReady] = useState(false);

  useEffect(() => {
    let cancelled = false;
    import('./codemirror.js').then(
      ({ createJsonEditor }) => {
        if (cancelled || !host.current) return;
        editor.current = createJsonEditor(host.current, {
          doc: latest.current.value,
          label,
          minLines,
          onChange: (text) => latest.current.onChange(text),
        });
        editor.current.setProblem(latest.current.problem);
        setReady(true);
      },
      (error: unknown) => !cancelled && setFailed(error),
    );
    return () => {
      cancelled = true;
      editor.current?.destroy();
      editor.current = undefined;
    };
    // The editor is made once; label and size are fixed for its life.
  }, []);

  useEffect(() => editor.current?.setText(value), [value]);
  useEffect(() => editor.current?.setProblem(problem), [problem]);

  return (
    <div class="json-editor">
      {!ready && !failed && <Loading label={`Loading the ${label.toLowerCase()} editor…`} />}
      {failed !== undefined && <ErrorMessage error={failed} title="The editor could not be loaded." />}
      <div ref={host} />
    </div>
  );
}
