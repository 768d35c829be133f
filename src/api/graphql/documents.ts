import { GraphQLError, parse, specifiedRules, validate, type DocumentNode, type GraphQLSchema, type ValidationRule } from 'graphql';
import { LRUCache } from 'lru-cache';
import type { Config } from '../../core/config/index.js';
import { checkSelections, validationRules } from './limits.js';

/** At most this many documents are kept… */
const CACHED_DOCUMENTS = 1000;
/** …and at most this many characters of query text in all (a document's tree is a small multiple of its text). */
const CACHED_DOCUMENT_CHARS = 4_000_000;

export type Prepared = { document: DocumentNode } | { errors: readonly GraphQLError[] };

const invalid = (message: string) => new GraphQLError(message, { extensions: { code: 'INVALID_INPUT' } });

/**
 * Parsed and validated documents by query text: a repeated operation is parsed and validated
 * once. Only valid documents are kept: a rejected one holds its whole token list in its
 * errors, and a client sending garbage must not push out the documents in use. The cache is
 * bounded by entries and by bytes, so neither many small nor a few large documents grow it.
 */
export class DocumentCache {
  readonly #documents = new LRUCache<string, DocumentNode>({
    max: CACHED_DOCUMENTS,
    maxSize: CACHED_DOCUMENT_CHARS,
    sizeCalculation: (_document, query) => Math.max(1, query.length),
  });
  readonly #rules: readonly ValidationRule[];

  constructor(
    private readonly schema: GraphQLSchema,
    private readonly limits: Config['graphql'],
  ) {
    this.#rules = [...specifiedRules, ...validationRules(limits)];
  }

  /**
   * The document of `query`, parsed with the token limit, refused past `graphql.maxSelections`
   * before graphql-js validates it (validation grows with the square of repeated fields),
   * then validated with the limits of limits.ts; or why it is refused.
   */
  prepare(query: unknown): Prepared {
    if (typeof query !== 'string' || query.length === 0) return { errors: [invalid('The operation needs a query.')] };
    const cached = this.#documents.get(query);
    if (cached) return { document: cached };
    if (Buffer.byteLength(query) > this.limits.maxDocumentBytes) {
      return { errors: [invalid(`A GraphQL document may be at most ${this.limits.maxDocumentBytes} bytes.`)] };
    }
    let document: DocumentNode;
    try {
      document = parse(query, { maxTokens: this.limits.maxTokens });
    } catch (err) {
      return { errors: [err instanceof GraphQLError ? err : invalid('The document cannot be parsed.')] };
    }
    try {
      checkSelections(document, this.limits);
    } catch (err) {
      return { errors: [invalid(err instanceof Error ? err.message : 'The document is too large.')] };
    }
    const errors = validate(this.schema, document, this.#rules);
    if (errors.length > 0) return { errors };
    this.#documents.set(query, document);
    return { document };
  }
}
