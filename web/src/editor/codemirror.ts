/**
 * CodeMirror 6 set up for JSON: syntax highlighting, syntax errors as you type (lint gutter and
 * underline), undo, and the console's colours. Loaded with `import()` by json-editor.tsx, so
 * only the pages with an editor download it.
 *
 * The editor lives in a shadow root: CodeMirror's styles are mounted by style-mod, which uses
 * a `<style>` element on a document (refused by the console's `style-src 'self'`) but a
 * constructed stylesheet (adoptedStyleSheets, not subject to the policy) in a shadow root.
 */
import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
import { json, jsonParseLinter } from '@codemirror/lang-json';
import { bracketMatching, foldGutter, HighlightStyle, indentOnInput, syntaxHighlighting } from '@codemirror/language';
import { lintGutter, linter } from '@codemirror/lint';
import { Compartment, EditorState } from '@codemirror/state';
import { EditorView, keymap, lineNumbers } from '@codemirror/view';
import { tags } from '@lezer/highlight';

export interface JsonEditorOptions {
  doc: string;
  /** The accessible name of the text area. */
  label: string;
  onChange(text: string): void;
  /** Lines shown before the editor scrolls. */
  minLines?: number;
}

export interface JsonEditorHandle {
  /** Replaces the text (a reload), unless it already is that text. */
  setText(text: string): void;
  /** Marks the content invalid (aria-invalid) and describes why, or clears both. */
  setProblem(message: string | undefined): void;
  focus(): void;
  destroy(): void;
}

// Custom properties inherit into the shadow root: light and dark follow styles.css.
const theme = EditorView.theme({
  '&': {
    color: 'var(--text)',
    backgroundColor: 'var(--surface)',
    border: '1px solid var(--border)',
    borderRadius: 'var(--radius)',
    fontSize: '13px',
  },
  '&.cm-focused': { outline: '2px solid var(--focus)', outlineOffset: '2px' },
  '&.pcf-invalid': { borderColor: 'var(--danger)' },
  '.cm-scroller': { fontFamily: 'var(--mono)', lineHeight: '1.5', overflow: 'auto' },
  '.cm-content': { caretColor: 'var(--text)' },
  '&.cm-focused .cm-cursor': { borderLeftColor: 'var(--text)' },
  '.cm-gutters': { backgroundColor: 'var(--bg-subtle)', color: 'var(--text-muted)', borderRight: '1px solid var(--border)' },
  '.cm-activeLine': { backgroundColor: 'transparent' },
  '&.cm-focused .cm-selectionBackground, .cm-selectionBackground, ::selection': { backgroundColor: 'var(--added)' },
  '.cm-tooltip': { backgroundColor: 'var(--surface)', color: 'var(--text)', border: '1px solid var(--border)' },
  '.cm-diagnostic-error': { borderLeftColor: 'var(--danger)' },
  '.pcf-sr-only': { position: 'absolute', width: '1px', height: '1px', overflow: 'hidden', clip: 'rect(0 0 0 0)', whiteSpace: 'nowrap' },
});

// Colours from styles.css (CodeMirror's default style has fixed ones, unreadable on dark).
const highlight = HighlightStyle.define([
  { tag: tags.propertyName, color: 'var(--accent)' },
  { tag: tags.string, color: 'var(--ok)' },
  { tag: tags.number, color: 'var(--warn)' },
  { tag: [tags.bool, tags.null], color: 'var(--danger)', fontWeight: '600' },
  { tag: tags.invalid, color: 'var(--danger)', textDecoration: 'underline' },
]);

export function createJsonEditor(host: HTMLElement, options: JsonEditorOptions): JsonEditorHandle {
  const root = host.shadowRoot ?? host.attachShadow({ mode: 'open' });
  // aria-describedby cannot point out of a shadow root: the description lives inside it.
  const description = document.createElement('div');
  description.id = 'problem';
  description.className = 'pcf-sr-only';
  root.append(description);

  const content = new Compartment();
  const contentAttributes = (problem: string | undefined) =>
    EditorView.contentAttributes.of({ 'aria-label': options.label, ...(problem ? { 'aria-invalid': 'true', 'aria-describedby': 'problem' } : {}) });
  let applying = false;
  const view = new EditorView({
    root,
    parent: root,
    state: EditorState.create({
      doc: options.doc,
      extensions: [
        lineNumbers(),
        foldGutter(),
        history(),
        indentOnInput(),
        bracketMatching(),
        syntaxHighlighting(highlight),
        json(),
        linter(jsonParseLinter(), { delay: 250 }),
        lintGutter(),
        keymap.of([...defaultKeymap, ...historyKeymap, indentWithTab]),
        EditorView.lineWrapping,
        theme,
        EditorView.theme({ '.cm-content, .cm-gutter': { minHeight: `${(options.minLines ?? 8) * 1.5}em` } }),
        content.of(contentAttributes(undefined)),
        EditorView.updateListener.of((update) => {
          if (update.docChanged && !applying) options.onChange(update.state.doc.toString());
        }),
      ],
    }),
  });

  return {
    setText(text) {
      if (view.state.doc.toString() === text) return;
      applying = true;
      try {
        view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
      } finally {
        applying = false;
      }
    },
    setProblem(message) {
      description.textContent = message ?? '';
      view.dom.classList.toggle('pcf-invalid', !!message);
      view.dispatch({ effects: content.reconfigure(contentAttributes(message)) });
    },
    focus: () => view.focus(),
    destroy() {
      view.destroy();
      description.remove();
    },
  };
}
