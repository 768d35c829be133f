import type { ResourceChanges, ResourceInput } from '@pcf/sdk';
import { describeJsonProblem, parseJson, prettyJson, sameJson } from '../../editor/json-text.js';
import type { FieldMessages } from './field-errors.js';

/** A document's form as typed: its JSON still text, so a half-written value is kept as it is. */
export interface Draft {
  name: string;
  type: string;
  metadata: string;
  data: string;
}

/**
 * The contract's metadata type. (The generated type reads `Record<string, never>` for "any
 * object", so a parsed object is cast to it once, here.)
 */
type Metadata = NonNullable<ResourceInput['metadata']>;

/** A draft that parsed: what would be sent. */
export interface DraftValue {
  name: string;
  type: string;
  metadata: Metadata;
  data: unknown;
}

/** The fields of a document the form shows. */
export interface DocumentContent {
  name: string;
  type: string;
  metadata: Record<string, unknown>;
  data: unknown;
}

export const EMPTY_DRAFT: Draft = { name: '', type: '', metadata: '{}', data: '{}' };

export function draftOf(doc: DocumentContent): Draft {
  return { name: doc.name, type: doc.type, metadata: prettyJson(doc.metadata), data: prettyJson(doc.data) };
}

/** The problems the browser can see before sending: JSON syntax, metadata not an object, no name. */
export function checkDraft(draft: Draft): { problems: FieldMessages; value?: DraftValue } {
  const problems: FieldMessages = {};
  if (draft.name.trim() === '') problems.name = 'Enter a name.';
  const metadata = parseJson(draft.metadata);
  if (!metadata.ok) problems.metadata = `Not valid JSON: ${describeJsonProblem(metadata)}`;
  else if (metadata.value === null || typeof metadata.value !== 'object' || Array.isArray(metadata.value)) {
    problems.metadata = 'Metadata must be a JSON object: { … }.';
  }
  const data = parseJson(draft.data);
  if (!data.ok) problems.data = `Not valid JSON: ${describeJsonProblem(data)}`;
  if (Object.keys(problems).length > 0 || !metadata.ok || !data.ok) return { problems };
  return { problems, value: { name: draft.name, type: draft.type.trim(), metadata: metadata.value as Metadata, data: data.value } };
}

/** What differs from `base`: the fields an update sends (a content-equal JSON is not a change). */
export function changesOf(base: DocumentContent, value: DraftValue): ResourceChanges {
  return {
    ...(value.name !== base.name ? { name: value.name } : {}),
    ...(!sameJson(value.metadata, base.metadata) ? { metadata: value.metadata } : {}),
    ...(!sameJson(value.data, base.data) ? { data: value.data } : {}),
  };
}

/** Whether the draft differs from `base` as typed (any edit, even one that does not parse). */
export function isEdited(base: DocumentContent, draft: Draft): boolean {
  const clean = draftOf(base);
  return draft.name !== clean.name || draft.metadata !== clean.metadata || draft.data !== clean.data;
}

/** Whether a syntax problem is in the draft's JSON (the live message under an editor). */
export function syntaxProblem(text: string): string | undefined {
  const parsed = parseJson(text);
  return parsed.ok ? undefined : `Not valid JSON: ${describeJsonProblem(parsed)}`;
}
