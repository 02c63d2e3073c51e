// The heartbeat socket: UDP multicast on the heartbeat interface, to an administratively scoped group that never
// leaves the link (TTL 1), so the pair needs no addresses of each other.
import { createSocket, type Socket } from 'node:dgram';
import { MAX_HEARTBEAT_BYTES } from './heartbeat.js';

export const HEARTBEAT_GROUP = '239.255.74.70';
export const HEARTBEAT_PORT = 7470;

export class HeartbeatWire {
  private constructor(private readonly socket: Socket) {}

  /** Joins the group on the interface that holds `localAddress`; `onDatagram` gets every datagram sent to it. */
  static open(localAddress: string, onDatagram: (datagram: Buffer) => void, port = HEARTBEAT_PORT): Promise<HeartbeatWire> {
    const socket = createSocket({ type: 'udp4', reuseAddr: true });
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, () => {
        try {
          socket.addMembership(HEARTBEAT_GROUP, localAddress);
          socket.setMulticastInterface(localAddress);
          socket.setMulticastTTL(1);
          socket.setMulticastLoopback(false);
        } catch (err) {
          socket.close();
          reject(err);
          return;
        }
        socket.off('error', reject);
        socket.on('message', (msg) => {
          if (msg.length <= MAX_HEARTBEAT_BYTES) onDatagram(msg);
        });
        resolve(new HeartbeatWire(socket));
      });
    });
  }

  send(datagram: Buffer, port = HEARTBEAT_PORT): Promise<void> {
    return new Promise((resolve, reject) => this.socket.send(datagram, port, HEARTBEAT_GROUP, (err) => (err ? reject(err) : resolve())));
  }

  /** Errors after open (e.g. the interface went away) go to `handler`, never unhandled. */
  onError(handler: (err: Error) => void): void {
    this.socket.on('error', handler);
  }

  close(): void {
    this.socket.close();
  }
}
