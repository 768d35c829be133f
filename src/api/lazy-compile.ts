import { createRequire } from 'node:module';
import type { FastifySchemaCompiler, FastifyServerOptions } from 'fastify';

/**
 * Fastify compiles every route's request validators and response serializers when it starts:
 * about a third of the CPU a start takes (most of it fast-json-stringify), for routes of which
 * a given instance may serve a handful. Compiling each one on its first use instead moves a
 * few milliseconds to that route's first request. The compiled code is the same.
 */

type FastifyValidationResult = ReturnType<FastifySchemaCompiler<unknown>>;

/** `compile` wrapped so the schema is compiled by the first validation (Ajv `errors` included). */
export function lazyValidatorCompiler(compile: FastifySchemaCompiler<unknown>): FastifySchemaCompiler<unknown> {
  return (route) => {
    let compiled: FastifyValidationResult | undefined;
    const validate: FastifyValidationResult = (data) => {
      compiled ??= compile(route) as FastifyValidationResult;
      const result = compiled(data);
      // Fastify reads a failed validation's errors from the function it was given.
      validate.errors = compiled.errors;
      return result;
    };
    return validate;
  };
}

type SerializerCompiler = (route: unknown) => (data: unknown) => string;
type SerializerBuilder = (externalSchemas: unknown, options: unknown) => SerializerCompiler;

/**
 * Fastify's own serializer builder (fast-json-stringify), wrapped so each response schema is
 * compiled by the first response it serializes. It is resolved through fastify, so it is the
 * very compiler fastify would use, at fastify's version.
 */
export function lazySerializers(): NonNullable<FastifyServerOptions['schemaController']> {
  const fromFastify = createRequire(createRequire(import.meta.url).resolve('fastify'));
  const { SerializerSelector } = fromFastify('@fastify/fast-json-stringify-compiler') as { SerializerSelector: () => SerializerBuilder };
  const build = SerializerSelector();
  const buildSerializer: SerializerBuilder = (externalSchemas, options) => {
    const compile = build(externalSchemas, options);
    return (route) => {
      let serialize: ((data: unknown) => string) | undefined;
      return (data) => (serialize ??= compile(route))(data);
    };
  };
  return { compilersFactory: { buildSerializer } } as NonNullable<FastifyServerOptions['schemaController']>;
}
