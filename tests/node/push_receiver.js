'use strict';
// Runs the real nacos-naming PushReceiver (the class that parses Nacos UDP pushes and sends the ack)
// with a stand-in host reactor, and prints what it sees as JSON lines on stdout:
//   {"event":"ready","udpPort":N}
//   {"event":"service","json":"<the packet's data string>","key":"<name@@clusters>","hosts":N}
//   {"event":"received","packet":"<packet text>","from":"ip:port"}
//   {"event":"error","message":"..."}
// It exits when stdin closes.

const PushReceiver = require('nacos-naming/lib/naming/push_receiver');
const ServiceInfo = require('nacos-naming/lib/naming/service_info');

function emit(event) {
  process.stdout.write(JSON.stringify(event) + '\n');
}

const logger = {
  info(format, ...args) {
    if (typeof format === 'string' && format.startsWith('[PushReceiver] received push data')) {
      emit({ event: 'received', packet: args[0], from: args[1] + ':' + args[2] });
    }
  },
  warn() {},
  error() {},
  debug() {},
};

const hostReactor = {
  logger,
  // What HostReactor.processServiceJSON does first: JSON.parse the data string into a ServiceInfo.
  processServiceJSON(json) {
    const info = new ServiceInfo(JSON.parse(json));
    emit({ event: 'service', json, key: info.getKey(), hosts: (info.hosts || []).length });
    return info;
  },
  get getServiceInfoMap() {
    return {};
  },
};

const receiver = new PushReceiver(hostReactor);
receiver.on('error', err => emit({ event: 'error', message: String(err && err.message) }));
receiver.ready(() => emit({ event: 'ready', udpPort: receiver.udpPort }));

process.stdin.resume();
process.stdin.on('end', () => {
  receiver.close().then(() => process.exit(0));
});
