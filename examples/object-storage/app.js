// The object-storage example: fetch() private objects with a token from another origin, and
// save each with Sluice under the name the app's catalogue gives it, or all of them as one zip,
// with progress.
import init, { Sluice } from '/sluice.js';

// The app's catalogue: what its own API would say about the bucket's objects.
const bucket = `http://127.0.0.1:${Number(location.port) + 1}`;
const token = 'Bearer sluice-example-token';
const catalogue = [
  { name: 'Quarterly report 2026.pdf', type: 'application/pdf', key: '5e884898da28047151d0e56f8dc62927', size: 25165835 },
  { name: 'IMG_0001.jpg', folder: 'Photos', type: 'image/jpeg', key: '0b4e7a0e5fe84ad35fb5f95b9ceeac79', size: 3145733 },
  { name: 'IMG_0002.jpg', folder: 'Photos', type: 'image/jpeg', key: '7c222fb2927d828af22f592134e8932a', size: 5242897 },
  { name: 'notes.txt', type: 'text/plain', key: 'd8578edf8458ce06fbc5bb76a58c5ca4', size: 1000 },
];

const status = document.getElementById('status');
const progress = document.getElementById('progress');

await init();
const sluice = await Sluice.register({ serviceWorker: '/sluice-sw.js' });

/** Shows `bytes` of `total` saved of `name`. */
function show(name, { bytes, total, bytesPerSecond }) {
  progress.max = total ?? 1;
  progress.value = bytes;
  status.textContent = `${name}: ${bytes} of ${total ?? '?'} bytes, ${(bytesPerSecond / 1e6).toFixed(1)} MB/s`;
}

/** The object's bytes, as the bucket sends them. */
async function fetchObject({ key }) {
  const response = await fetch(`${bucket}/objects/${key}`, { headers: { Authorization: token } });
  if (!response.ok) throw new Error(`the bucket answered ${response.status}`);
  return response;
}

/** Saves one catalogue entry; resolves to the bytes saved. */
async function save(entry) {
  const response = await fetchObject(entry);
  const size = Number(response.headers.get('Content-Length')) || undefined;
  const dl = sluice.createDownload(entry.name, { size, type: entry.type, onProgress: (p) => show(entry.name, p) });
  await response.body.pipeTo(dl.writable);
  return dl.done;
}

/** An entry's path in the zip. */
const pathOf = (entry) => (entry.folder ? `${entry.folder}/${entry.name}` : entry.name);

/** Saves every entry as one zip, fetched one after another (one object in memory at a time, at
 * most a chunk of it). The catalogue's sizes make the archive's size known before its first
 * byte, so the browser shows real progress. Resolves to the bytes saved. */
async function saveAll(name) {
  const entries = catalogue.map((entry) => ({ name: pathOf(entry), size: entry.size }));
  const zip = sluice.createZip(name, { entries, onProgress: (p) => show(name, p) });
  try {
    for (const entry of catalogue) await zip.add(pathOf(entry), await fetchObject(entry));
    await zip.close();
  } catch (e) {
    // The archive fails visibly: a zip with an object missing must not look complete.
    zip.abort(e.message);
  }
  return zip.done;
}

const table = document.getElementById('catalogue');
for (const entry of catalogue) {
  const row = table.insertRow();
  row.insertCell().textContent = pathOf(entry);
  row.insertCell().textContent = entry.key;
  const button = document.createElement('button');
  button.textContent = 'Save';
  button.onclick = () => save(entry).then(
    (bytes) => (status.textContent = `saved ${entry.name}: ${bytes} bytes`),
    (e) => (status.textContent = `failed: ${e.message}`),
  );
  row.insertCell().append(button);
}

const zipButton = document.getElementById('zip');
if (typeof sluice.createZip === 'function') {
  zipButton.disabled = false;
  zipButton.onclick = () => saveAll('bucket.zip').then(
    (bytes) => (status.textContent = `saved bucket.zip: ${bytes} bytes`),
    (e) => (status.textContent = `failed: ${e.message}`),
  );
} else {
  document.getElementById('zip-note').textContent = 'createZip is not in this build of Sluice (cargo xtask build --zip puts it in).';
}
status.textContent = 'ready';
