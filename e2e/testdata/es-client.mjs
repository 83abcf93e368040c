// The npm eventsource client, driven by e2e/eventsource_test.go: subscribes
// to the URL given as the first argument and prints one line per callback,
// in the format of page.html, so the same scenario checks both clients.
import { EventSource } from 'eventsource';

const log = (line) => process.stdout.write(line + '\n');
const es = new EventSource(process.argv[2]);
es.onopen = () => log('open');
es.onerror = (e) => {
  log('error readyState=' + es.readyState);
  process.stderr.write(`eventsource error: ${e.message ?? ''} ${e.code ?? ''}\n`);
};
es.onmessage = (e) => log(`message ${e.lastEventId} ${e.data} ${e.origin}`);
for (const type of ['headline', 'score']) {
  es.addEventListener(type, (e) => log(`${type} ${e.lastEventId} ${e.data} ${e.origin}`));
}
es.addEventListener('ssedge.gap', (e) => log('ssedge.gap ' + e.data));
