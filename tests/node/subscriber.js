'use strict';
// A real Node nacos-naming client for end-to-end push tests. Configuration is one JSON argument:
//   {"server":"127.0.0.1:8848","namespace":"public","serviceName":"svc","groupName":"DEFAULT_GROUP",
//    "clusters":"","clientIp":"127.0.0.1","username":"..","password":".."}  (credentials optional)
// It subscribes to the service and prints JSON lines on stdout:
//   {"event":"ready","udpPort":N}
//   {"event":"push","packet":"<packet text>","from":"ip:port","t":<ms>}      (every UDP push received)
//   {"event":"change","hosts":[{"ip","port","healthy"}...],"t":<ms>}        (every listener call)
//   {"event":"done","id":..,"op":..} / {"event":"failed","id":..,"op":..,"message":..}
//   {"event":"error","message":..}
// Commands arrive as JSON lines on stdin (the same process can act as the "other client"):
//   {"id":1,"op":"register","ip":"10.0.0.1","port":8080,"serviceName":"svc"}
//   {"id":2,"op":"deregister","ip":"10.0.0.1","port":8080,"serviceName":"svc"}
//   {"id":3,"op":"close"}
// The client reports `clientIP` from require('address').ip(), the host's first LAN address; the
// harness pins it to `clientIp` (loopback by default) so that pushes stay on this machine.

const config = JSON.parse(process.argv[2] || '{}');
const clientIp = config.clientIp || '127.0.0.1';
require('address').ip = () => clientIp;

const readline = require('readline');
const { NacosNamingClient } = require('nacos-naming');

function emit(event) {
  process.stdout.write(JSON.stringify(event) + '\n');
}

const logger = {
  info(format, ...args) {
    if (typeof format === 'string' && format.startsWith('[PushReceiver] received push data')) {
      emit({ event: 'push', packet: args[0], from: args[1] + ':' + args[2], t: Date.now() });
    }
  },
  warn(...args) {
    emit({ event: 'warn', message: args.map(String).join(' ') });
  },
  error(...args) {
    emit({ event: 'error', message: args.map(String).join(' ') });
  },
  debug() {},
};

async function main() {
  const client = new NacosNamingClient({
    logger,
    serverList: config.server || '127.0.0.1:8848',
    namespace: config.namespace || 'public',
    username: config.username,
    password: config.password,
  });
  client.on('error', err => emit({ event: 'error', message: String(err && err.message) }));
  await client.ready();
  const groupName = config.groupName || 'DEFAULT_GROUP';
  const info = { serviceName: config.serviceName, groupName, clusters: config.clusters || '' };
  client.subscribe(info, hosts => {
    emit({
      event: 'change',
      hosts: hosts.map(h => ({ ip: h.ip, port: h.port, healthy: h.healthy })),
      t: Date.now(),
    });
  });
  emit({ event: 'ready', udpPort: client._hostReactor._pushReceiver.udpPort });

  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (!line.trim()) continue;
    let command;
    try {
      command = JSON.parse(line);
    } catch (err) {
      emit({ event: 'failed', message: 'bad command: ' + line });
      continue;
    }
    const { id, op } = command;
    try {
      const serviceName = command.serviceName || config.serviceName;
      const instance = { ip: command.ip, port: command.port, clusterName: command.clusterName || 'DEFAULT' };
      if (op === 'register') {
        await client.registerInstance(serviceName, instance, command.groupName || groupName);
      } else if (op === 'deregister') {
        await client.deregisterInstance(serviceName, instance, command.groupName || groupName);
      } else if (op === 'close') {
        break;
      } else {
        throw new Error('unknown op ' + op);
      }
      emit({ event: 'done', id, op, t: Date.now() });
    } catch (err) {
      emit({ event: 'failed', id, op, message: String(err && err.message) });
    }
  }
  await client.close();
  emit({ event: 'closed' });
  process.exit(0);
}

main().catch(err => {
  emit({ event: 'fatal', message: String(err && err.stack) });
  process.exit(1);
});
