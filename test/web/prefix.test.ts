import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Nginx, nginxBinary } from '../support/nginx.js';
import { freePort } from '../support/net.js';
import { registerMember, startConsole, type ConsoleHarness } from './support.js';

/**
 * The console behind a reverse proxy that mounts the server under a path prefix
 * (https://example.com/pcf/ → the server's /): real nginx strips the prefix, the server knows
 * nothing of it, and the console still loads, signs in, calls the API and gets live updates
 * over the WebSocket, all under /pcf/.
 */
const PREFIX = '/pcf/';

function prefixConfig(upstream: string) {
  return (prefix: string, port: number) => `
worker_processes 1;
pid ${prefix}/nginx.pid;
events { worker_connections 256; }
http {
  access_log ${prefix}/access.log;
  client_body_temp_path ${prefix}/tmp/client_body;
  proxy_temp_path ${prefix}/tmp/proxy;
  fastcgi_temp_path ${prefix}/tmp/fastcgi;
  uwsgi_temp_path ${prefix}/tmp/uwsgi;
  scgi_temp_path ${prefix}/tmp/scgi;
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  server {
    listen 127.0.0.1:${port};
    location ${PREFIX} {
      proxy_pass http://${upstream}/;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_read_timeout 120s;
    }
  }
}
`;
}

describe('console: behind a path prefix', () => {
  let h: ConsoleHarness;
  let nginx: Nginx;

  before(async () => {
    const binary = nginxBinary();
    assert.ok(binary, 'nginx is not installed: scripts/test-machine.sh installs nginx-light');
    h = await startConsole();
    const port = await freePort();
    nginx = new Nginx(binary, { port, upstreams: { api: [], auth: [] }, bodyLimitBytes: 0, config: prefixConfig(new URL(h.server.url).host) });
    await nginx.start();
  });
  after(async () => {
    await nginx?.stop();
    await h?.close();
  });

  it('loads, signs in, reads documents and follows one live, every request under the prefix', async () => {
    const member = await registerMember(h.server, 'Prefixed');
    const person = await h.newPerson();
    const outside: string[] = [];
    person.page.on('request', (request) => {
      if (!request.url().startsWith(`${nginx.base}${PREFIX}`)) outside.push(request.url());
    });
    person.page.on('websocket', (socket) => {
      if (!socket.url().startsWith(`${nginx.base.replace('http', 'ws')}${PREFIX}`)) outside.push(socket.url());
    });
    await person.page.goto(`${nginx.base}${PREFIX}`);
    assert.equal(new URL(person.page.url()).pathname, `${PREFIX}console/`, 'the redirect stays under the prefix');
    await person.page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    await person.page.getByLabel('Email').fill(member.email);
    await person.page.getByLabel('Password').fill('a long passphrase');
    await person.page.getByRole('button', { name: 'Sign in' }).click();
    await person.page.getByRole('heading', { level: 1, name: 'Documents' }).waitFor();
    // The live connection comes up through nginx's WebSocket upgrade.
    await person.page.getByText('Live', { exact: true }).waitFor();

    await person.page.getByRole('link', { name: 'New document' }).click();
    await person.page.getByRole('heading', { level: 1, name: 'New document' }).waitFor();
    assert.deepEqual(outside, [], 'nothing was asked outside the prefix');
    assert.deepEqual(person.problems, []);
  });
});
