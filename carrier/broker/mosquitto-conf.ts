/** Renders the mosquitto configuration of the reference broker (see carrier/broker/mosquitto.conf). */

/** Where the dynamic-security plugin lives in Debian's mosquitto package. */
export const DYNSEC_PLUGIN = '/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so';

export interface MosquittoConfOptions {
  port: number;
  /** Address to listen on (tests: 127.0.0.1). */
  host?: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  /**
   * The carrier CA's CRL (PEM): client certificates it lists are refused at the TLS handshake.
   * mosquitto reads it at start only; OpenSSL then needs a current CRL of the CA (an empty one is fine).
   */
  crlFile?: string;
  dynsecFile: string;
  persistenceDir: string;
  logFile: string;
  pluginPath?: string;
  /** Per-client queue bound; mosquitto silently drops past it, so size it for the outage you must ride out. */
  maxQueuedMessages?: number;
  /**
   * An extra MQTT-over-WebSocket listener for the remote-assistance operator page (password logins
   * through dynamic security). `tls` false is for loopback tests only; production uses WSS.
   */
  websockets?: { port: number; host?: string; tls: boolean };
}

/** The configuration text: TLS 1.2+ with client certificates, CN as username, dynamic security, persistence. */
export function mosquittoConf(o: MosquittoConfOptions): string {
  return [
    'per_listener_settings false',
    'allow_anonymous false',
    `plugin ${o.pluginPath ?? DYNSEC_PLUGIN}`,
    `plugin_opt_config_file ${o.dynsecFile}`,
    'persistence true',
    `persistence_location ${o.persistenceDir.endsWith('/') ? o.persistenceDir : `${o.persistenceDir}/`}`,
    'autosave_interval 1',
    `max_queued_messages ${o.maxQueuedMessages ?? 100000}`,
    'max_inflight_messages 100',
    `log_dest file ${o.logFile}`,
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information',
    'connection_messages true',
    `listener ${o.port} ${o.host ?? '127.0.0.1'}`,
    'protocol mqtt',
    `cafile ${o.caFile}`,
    `certfile ${o.certFile}`,
    `keyfile ${o.keyFile}`,
    ...(o.crlFile ? [`crlfile ${o.crlFile}`] : []),
    'tls_version tlsv1.2',
    'require_certificate true',
    'use_identity_as_username true',
    // The client id is the certificate's CN (or the operator's login): nobody can take over another client's session.
    'use_username_as_clientid true',
    ...(o.websockets
      ? [
          `listener ${o.websockets.port} ${o.websockets.host ?? '127.0.0.1'}`,
          'protocol websockets',
          ...(o.websockets.tls
            ? [
                `cafile ${o.caFile}`,
                `certfile ${o.certFile}`,
                `keyfile ${o.keyFile}`,
                ...(o.crlFile ? [`crlfile ${o.crlFile}`] : []),
                'tls_version tlsv1.2',
                'require_certificate false',
              ]
            : []),
        ]
      : []),
    '',
  ].join('\n');
}
