// The LAN-transfer example: a file over an RTCDataChannel between two pages, saved by the
// receiver through Sluice as it arrives, with backpressure end to end.
import init, { Sluice } from '/sluice.js';

const CHUNK = 64 * 1024;
const CHANNEL_LIMIT = 4 * 1024 * 1024; // at most this much queued in the data channel
const WINDOW = 8 * 1024 * 1024; // at most this much sent and not yet written by the receiver

const status = document.getElementById('status');
const progress = document.getElementById('progress');
const signals = new BroadcastChannel('sluice-lan-example');
const show = (done, total, what) => {
  progress.max = total || 1;
  progress.value = done;
  status.textContent = `${what}: ${done} of ${total} bytes`;
};

/** A peer connection whose offers, answers and candidates go through `signals`;
 * `onReceiver` runs when a receiver says it has started (a sender then offers again). */
function peer(onReceiver = () => {}) {
  const pc = new RTCPeerConnection();
  pc.onicecandidate = ({ candidate }) => candidate && signals.postMessage({ candidate: candidate.toJSON() });
  // Signals are handled one at a time, in order: a candidate never comes before its description.
  let remote = false;
  let handled = Promise.resolve();
  const handle = async (data) => {
    if (data.receiving) {
      onReceiver();
    } else if (data.offer && !remote) {
      remote = true; // one sender at a time
      await pc.setRemoteDescription(data.offer);
      await pc.setLocalDescription();
      signals.postMessage({ answer: pc.localDescription.toJSON() });
    } else if (data.answer && !remote) {
      remote = true;
      await pc.setRemoteDescription(data.answer);
    } else if (data.candidate && remote) {
      await pc.addIceCandidate(data.candidate);
    }
  };
  signals.onmessage = ({ data }) => {
    handled = handled.then(() => handle(data)).catch((e) => console.warn('signalling:', e));
  };
  return pc;
}

/** Receives one file and saves it through Sluice; resolves to the bytes saved. */
async function receive() {
  // Listen first, so an offer that comes while Sluice registers is not lost.
  const registered = init().then(() => Sluice.register({ serviceWorker: '/sluice-sw.js' }));
  const pc = peer();
  const arrived = new Promise((resolve) => (pc.ondatachannel = ({ channel }) => resolve(channel)));
  signals.postMessage({ receiving: true });
  status.textContent = 'waiting for a sender';
  const channel = await arrived;
  channel.binaryType = 'arraybuffer';
  return new Promise((resolve, reject) => {
    let writer = null;
    let size = 0;
    let written = 0;
    // Messages are handled in order, one at a time; each acknowledgement says what reached Sluice.
    let writing = Promise.resolve();
    const handle = async (data) => {
      if (typeof data === 'string') {
        const meta = JSON.parse(data);
        size = meta.size;
        const sluice = await registered;
        const dl = sluice.createDownload(meta.name, { size: meta.size, type: meta.type || undefined });
        writer = dl.writable.getWriter();
        dl.done.then(resolve, reject);
        if (size === 0) await writer.close();
        return;
      }
      await writer.write(new Uint8Array(data));
      written += data.byteLength;
      channel.send(JSON.stringify({ written }));
      show(written, size, 'received');
      if (written === size) await writer.close();
    };
    channel.onmessage = ({ data }) => {
      writing = writing.then(() => handle(data)).catch((e) => {
        reject(e);
        channel.close();
      });
    };
    channel.onclose = () => written < size && writer?.abort('the sender went away');
  });
}

/** Sends `blob` (name, type, bytes) to the receiver. */
async function send(blob, name) {
  // A receiver that starts after this offer asks again.
  const offer = () => signals.postMessage({ offer: pc.localDescription.toJSON() });
  const pc = peer(() => pc.localDescription && !pc.remoteDescription && offer());
  const channel = pc.createDataChannel('file', { ordered: true });
  channel.binaryType = 'arraybuffer';
  channel.bufferedAmountLowThreshold = CHANNEL_LIMIT / 2;
  let acknowledged = 0;
  let wake = () => {};
  channel.onmessage = ({ data }) => {
    acknowledged = JSON.parse(data).written;
    wake();
  };
  channel.onbufferedamountlow = () => wake();
  const opened = new Promise((resolve) => (channel.onopen = resolve));
  await pc.setLocalDescription();
  offer();
  await opened;
  channel.send(JSON.stringify({ name, size: blob.size, type: blob.type }));
  const reader = blob.stream().getReader();
  let sent = 0;
  let pending = new Uint8Array(0);
  for (;;) {
    if (pending.length === 0) {
      const { done, value } = await reader.read();
      if (done) break;
      pending = value;
    }
    // Backpressure: the channel's queue, and what the receiver has not written yet.
    while (channel.bufferedAmount > CHANNEL_LIMIT || sent - acknowledged > WINDOW) {
      await new Promise((resolve) => (wake = resolve));
    }
    const piece = pending.subarray(0, CHUNK);
    pending = pending.subarray(piece.length);
    channel.send(piece);
    sent += piece.length;
    show(sent, blob.size, 'sent');
  }
  while (acknowledged < blob.size) await new Promise((resolve) => (wake = resolve));
  status.textContent = `sent ${sent} bytes`;
}

const byteAt = (p) => ((Math.imul(p, 2654435761) >>> 24) ^ Math.floor(p / 1048576)) & 255;
/** `size` generated bytes (the test file's) as a Blob, made a MiB at a time. */
function generated(size) {
  const parts = [];
  for (let offset = 0; offset < size; offset += 1 << 20) {
    const part = new Uint8Array(Math.min(1 << 20, size - offset));
    for (let i = 0; i < part.length; i++) part[i] = byteAt(offset + i);
    parts.push(part);
  }
  return new Blob(parts);
}

const report = (promise, what) => promise.then((r) => (status.textContent = `${what}: ${r ?? 'done'}`), (e) => (status.textContent = `failed: ${e.message ?? e}`));
document.getElementById('receive').onclick = () => report(receive(), 'saved');
document.getElementById('send').onclick = () => {
  const file = document.getElementById('file').files[0];
  if (file) report(send(file, file.name), 'sent');
};
document.getElementById('generate').onclick = () => {
  const size = Number(document.getElementById('size').value);
  report(send(generated(size), 'generated.bin'), 'sent');
};
