// A scripted webhook receiver for trying Switchyard locally: `npm run handler` (127.0.0.1:9000).
// PUT /__script/<name> scripts the answers of POST /h/<name>; GET /__calls/<name> lists requests.
import { startHandlerServer } from "../test/support/handler-server.ts";

const port = Number(process.env.HANDLER_PORT ?? 9000);
const { url } = await startHandlerServer(port);
console.log(`demo handler listening on ${url} (POST ${url}/h/<name>)`);
