import * as nodeModule from 'node:module';

/**
 * `npm start`: the same as `pcf serve`, with the command line's flags passed through.
 */
// Node 22.1+ keeps compiled modules on disk (in the OS's temporary directory), so a restart
// does not compile the server's modules again; Node 20 has no such cache and skips this.
(nodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.();
process.argv.splice(2, 0, 'serve');
await import('./cli/main.js');
