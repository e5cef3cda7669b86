/** Where and as whom an MQTT client connects: the broker and a mutual-TLS identity (PEM). */
export interface MqttTlsEndpoint {
  /** Broker URL, e.g. mqtts://127.0.0.1:8883. */
  url: string;
  /** PEM of the carrier CA, this client's certificate and its private key (file key store). */
  ca: string | Buffer;
  cert: string | Buffer;
  key: string | Buffer;
  /** Topic prefix (default kiosk/v1/). */
  prefix?: string;
}
