/**
 * An HTTP proxy in front of moto that answers chosen AWS requests the way AWS answers a caller over
 * its request rate: moto never throttles, so this is how the suite shows what the SDK and the bot
 * make of throttling. Every other request goes to moto unchanged (headers, signature and body as
 * sent). Give the bot `AWS_ENDPOINT_URL: proxy.url`.
 *
 * EC2 (query protocol, `Version=2016-11-15` in the body) is answered as EC2 does: HTTP 503 with
 * `RequestLimitExceeded` in its XML error document.
 */
import { randomUUID } from 'node:crypto';
import { createServer, request, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProxiedCall {
  at: number;
  /** The EC2 action (`Action=` in the body), when it is an EC2 call. */
  ec2Action?: string;
  /** The SDK's `amz-sdk-request` header: `attempt=N; max=M` of its retry strategy. */
  sdkRequest?: string;
  throttled: boolean;
}

export interface ThrottlingProxy {
  readonly url: string;
  /** Every EC2 call that reached the proxy, throttled or not. */
  readonly ec2Calls: ProxiedCall[];
  /** Answer the next `n` EC2 calls with RequestLimitExceeded (Infinity: all of them, until `stop`). */
  throttleEc2(n: number): void;
  /** Let every call through again. */
  stop(): void;
  close(): Promise<void>;
}

const EC2_VERSION = 'Version=2016-11-15';

function ec2Throttled(): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>${randomUUID()}</RequestID></Response>`;
}

export async function startThrottlingProxy(target: string): Promise<ThrottlingProxy> {
  const upstream = new URL(target);
  const ec2Calls: ProxiedCall[] = [];
  let throttleLeft = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const text = body.toString('utf8');
      if (req.method === 'POST' && text.includes(EC2_VERSION)) {
        const throttled = throttleLeft > 0;
        if (throttled) throttleLeft -= 1;
        const sdkRequest = req.headers['amz-sdk-request'];
        ec2Calls.push({
          at: Date.now(),
          ...(/(?:^|&)Action=([A-Za-z]+)/.exec(text)?.[1] ? { ec2Action: /(?:^|&)Action=([A-Za-z]+)/.exec(text)![1]! } : {}),
          ...(typeof sdkRequest === 'string' ? { sdkRequest } : {}),
          throttled,
        });
        if (throttled) {
          res.writeHead(503, { 'content-type': 'text/xml;charset=UTF-8' });
          res.end(ec2Throttled());
          return;
        }
      }
      const headers: IncomingHttpHeaders = { ...req.headers, 'content-length': String(body.length) };
      const forward = request(
        { hostname: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      forward.on('error', (err) => {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`proxy: ${err.message}`);
      });
      forward.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    ec2Calls,
    throttleEc2(n) {
      throttleLeft = n;
    },
    stop() {
      throttleLeft = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
