export * from './errors.ts';
export * from './transport.ts';
export { HeartbeatMonitor, type HeartbeatConfig, type HeartbeatTick } from './heartbeat.ts';
export { loadSecretFile, SECRET_BYTES_MIN } from './secret.ts';
export { Session, HANDSHAKE_TIMEOUT_MS_DEFAULT, type AuthOptions } from './session.ts';
export { MemoryTransport, MemoryNetwork, type MemoryTransportOptions, type MemoryListenOptions, type MemoryConnectOptions } from './memory.ts';
export { WsChannel, listenWs, connectWs, type WsChannelOptions, type WsListenOptions, type WsConnectOptions } from './ws.ts';
export { listen, connect, defaultMemoryNetwork, type ListenOptions, type ConnectOptions } from './endpoint.ts';
