/**
 * The benchmark's handler: the demo handler's scripted server (`npm run handler`,
 * test/support/handler-server.ts) with a longer keep-alive. Node closes idle keep-alive sockets after
 * 5 s while workerd's outbound pool may reuse them; a burst after a lull then fails with "Network
 * connection lost" on several attempts at once, and five in a row open the destination's circuit.
 */
import { startHandlerServer } from "../test/support/handler-server.ts";

const port = Number(process.env.HANDLER_PORT ?? 9000);
const { server, url } = await startHandlerServer(port);
server.keepAliveTimeout = 120_000;
server.headersTimeout = 125_000;
console.log(`benchmark handler listening on ${url}`);
