#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import { ConfigError, redactConfig } from '../core/config/index.js';
import { packageInfo } from '../core/package.js';
import { healthcheck, HEALTH_EXIT } from './healthcheck.js';
import type { MigrateAction } from './migrate.js';
import { addConfigOptions, configFromOptions, EXIT_CONFIG } from './options.js';
import { err, out } from './output.js';

/** `pcf`: run and operate a PCF API server. */
export function buildCli(): Command {
  const program = new Command('pcf')
    .description('PCF API: run the server and operate it')
    .version(packageInfo().version)
    .showHelpAfterError()
    .addHelpText(
      'after',
      '\nEvery setting can come from a config file (--config), a PCF_* variable or a flag; flags win.\nSee README.md for the table of settings.',
    );

  addConfigOptions(program.command('serve').description('Start the API server (embedded PGlite unless --database-url is set)')).action(
    async (options: Record<string, unknown>) => {
      const { config, warnings } = loadOrExit(options);
      // Each command loads its own modules: serve starts the database before the server's load.
      const { serve } = await import('./serve.js');
      await serve(config, warnings);
    },
  );

  addConfigOptions(
    program
      .command('migrate')
      .description('Apply, revert or list database migrations')
      .argument('<action>', 'up (apply every pending), down (revert the latest) or status', (value: string) => {
        if (!['up', 'down', 'status'].includes(value)) throw new InvalidArgumentError('expected up, down or status.');
        return value as MigrateAction;
      })
      .option('--yes', 'confirm `down` in the production profile (it drops tables and their data)'),
  ).action(async (action: MigrateAction, options: Record<string, unknown>) => {
    const { config } = loadOrExit(options);
    const { migrate } = await import('./migrate.js');
    await migrate(config, action, { yes: options.yes === true });
  });

  addConfigOptions(
    program
      .command('healthcheck')
      .description('Ask a running server whether it is ready: exit 0 healthy or degraded, 1 unhealthy, 2 cannot connect')
      .option('--url <url>', 'Base URL of the server (env PCF_URL; default from host and port)')
      .option('--timeout <ms>', 'How long to wait for an answer', parseTimeout, 5000),
  ).action(async (options: Record<string, unknown>) => {
    let url = (options.url as string | undefined) ?? process.env.PCF_URL;
    if (!url) {
      const loaded = tryLoad(options);
      if (!loaded) return void (process.exitCode = HEALTH_EXIT.unreachable);
      const host = ['0.0.0.0', '::'].includes(loaded.config.host) ? '127.0.0.1' : loaded.config.host;
      url = `http://${host.includes(':') ? `[${host}]` : host}:${loaded.config.port}`;
    }
    process.exitCode = await healthcheck(url, options.timeout as number);
  });

  const users = program.command('users').description('Manage user accounts directly in the database');
  addConfigOptions(
    users
      .command('create')
      .description('Create an account (a member, or an admin with --admin); with embedded PGlite, stop the server first')
      .requiredOption('--email <email>', 'Email address of the account')
      .requiredOption('--name <name>', 'Display name')
      .option('--admin', 'Make the account an admin')
      .option('--password-stdin', 'Read the password from standard input; otherwise one is generated and printed once'),
  ).action(async (options: Record<string, unknown>) => {
    const { config } = loadOrExit(options);
    const { createUser } = await import('./users.js');
    await createUser(config, {
      email: options.email as string,
      name: options.name as string,
      admin: options.admin === true,
      passwordStdin: options.passwordStdin === true,
    });
  });

  addConfigOptions(program.command('config').description('Print the effective configuration (secrets redacted) and exit; non-zero when it is invalid')).action(
    (options: Record<string, unknown>) => {
      const { config, warnings } = loadOrExit(options);
      for (const warning of warnings) err(`warning: ${warning}`);
      out(JSON.stringify(redactConfig(config), null, 2));
    },
  );

  return program;
}

function parseTimeout(value: string): number {
  const ms = Number(value);
  if (!Number.isInteger(ms) || ms <= 0) throw new InvalidArgumentError('expected a positive number of milliseconds.');
  return ms;
}

function tryLoad(options: Record<string, unknown>) {
  try {
    return configFromOptions(options);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    err(e.message);
    return undefined;
  }
}

function loadOrExit(options: Record<string, unknown>) {
  const loaded = tryLoad(options);
  if (!loaded) process.exit(EXIT_CONFIG);
  return loaded;
}

await buildCli().parseAsync(process.argv);
