// The object-storage example: fetch() a private object with a token from another origin, and
// save it with Sluice under the name the app's catalogue gives it, with progress.
import init, { Sluice } from '/sluice.js';

// The app's catalogue: what its own API would say about the bucket's objects.
const bucket = `http://127.0.0.1:${Number(location.port) + 1}`;
const token = 'Bearer sluice-example-token';
const catalogue = [
  { name: 'Quarterly report 2026.pdf', type: 'application/pdf', key: '5e884898da28047151d0e56f8dc62927' },
];

const status = document.getElementById('status');
const progress = document.getElementById('progress');

await init();
const sluice = await Sluice.register({ serviceWorker: '/sluice-sw.js' });

/** Saves one catalogue entry; resolves to the bytes saved. */
async function save({ name, type, key }) {
  const response = await fetch(`${bucket}/objects/${key}`, { headers: { Authorization: token } });
  if (!response.ok) throw new Error(`the bucket answered ${response.status}`);
  const size = Number(response.headers.get('Content-Length')) || undefined;
  const dl = sluice.createDownload(name, {
    size,
    type,
    onProgress: ({ bytes, total, bytesPerSecond }) => {
      progress.max = total ?? 1;
      progress.value = bytes;
      status.textContent = `${name}: ${bytes} of ${total ?? '?'} bytes, ${(bytesPerSecond / 1e6).toFixed(1)} MB/s`;
    },
  });
  await response.body.pipeTo(dl.writable);
  return dl.done;
}

const table = document.getElementById('catalogue');
for (const entry of catalogue) {
  const row = table.insertRow();
  row.insertCell().textContent = entry.name;
  row.insertCell().textContent = entry.key;
  const button = document.createElement('button');
  button.textContent = 'Save';
  button.onclick = () => save(entry).then(
    (bytes) => (status.textContent = `saved ${entry.name}: ${bytes} bytes`),
    (e) => (status.textContent = `failed: ${e.message}`),
  );
  row.insertCell().append(button);
}
status.textContent = 'ready';
