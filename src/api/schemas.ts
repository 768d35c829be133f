import { Type } from '@sinclair/typebox';
import { ERROR_CODES } from '../core/errors.js';

/**
 * Shared response schemas. Route schemas double as Fastify serializers, so a response holds
 * exactly the fields listed here and nothing a new column might add by accident.
 */
export const ProblemSchema = Type.Object(
  {
    type: Type.String({ description: 'URI naming the kind of problem' }),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String({ description: 'What went wrong, for a person to read' }),
    instance: Type.String({ description: 'The path of the request' }),
    code: Type.Union(
      Object.keys(ERROR_CODES).map((c) => Type.Literal(c)),
      { description: 'Stable machine-readable code' },
    ),
    traceId: Type.String({ description: 'W3C trace id; quote it when reporting a problem' }),
    errors: Type.Optional(Type.Array(Type.Object({ field: Type.String(), message: Type.String() }), { description: 'Field problems of an INVALID_INPUT' })),
  },
  { $id: 'Problem', title: 'Problem', description: 'RFC 9457 problem details' },
);

/** A reference to the shared Problem schema, for route `response` maps. */
export const problemRef = Type.Unsafe<unknown>({ $ref: 'Problem#' });
