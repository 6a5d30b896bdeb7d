"use strict";
// Waveforms of audio as it plays: min/max of the samples per pixel column on a canvas, a line
// at the playing position, optionally a shaded range (e.g. the part of a recording kept after
// trimming) and words under it ([{word, start_time, end_time}], seconds). No dependencies.
//
//   const view = Waveform.forMedia(audioElement, { kept, words });  // view.canvas after it
//   view.load(blobOrArrayBuffer);   // or nothing: the media's source is read when it plays
//
//   const view = new Waveform(canvas, { kept: [0.4, 3.7], words });
//   view.setAudio(audioBuffer);     // or view.setAudio(float32Samples, sampleRate)
//   view.follow(mediaElement);      // the position is media.currentTime (a click seeks it)
//   view.startAt(audioContext, t);  // or: Web Audio playback that started at context time t
//
// For tests and tools, the canvas carries data-samples (how many samples are drawn),
// data-duration and data-position (seconds), updated with every frame drawn, and with word
// timings data-words (how many) and data-word (the word being said, highlighted).

class Waveform {
  constructor(canvas, { kept = null, words = null, height = 56, wordHeight = 16 } = {}) {
    this.canvas = canvas;
    this.kept = kept;
    this.words = words;
    this.height = height;
    this.wordHeight = wordHeight;
    this.samples = null;
    this.rate = 1;
    this.media = null;
    this.clock = null; // {context, start} for Web Audio playback
    this._peaks = null; // {width, min, max}
    this._frame = 0;
    this._src = null; // the media source whose samples are drawn (or being read)
    canvas.classList.add("waveform");
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", "waveform");
    canvas.dataset.samples = "0";
    canvas.dataset.position = "0";
    canvas.addEventListener("click", (event) => this._seek(event));
    if (window.ResizeObserver) new ResizeObserver(() => this.draw()).observe(canvas);
  }

  // A canvas drawing what `media` plays, shown once it has samples: placed right after
  // `media` when that is in a document already, else the caller places `view.canvas`.
  static forMedia(media, options = {}) {
    const canvas = document.createElement("canvas");
    canvas.hidden = true;
    if (media.parentNode) media.after(canvas);
    const view = new Waveform(canvas, options);
    view.follow(media);
    media.waveform = view;  // so whoever sets the media's source can give it words
    return view;
  }

  // The samples of encoded audio (a Blob, an ArrayBuffer), decoded by the browser.
  static async decode(data) {
    const bytes = data instanceof Blob ? await data.arrayBuffer() : data;
    const Offline = window.OfflineAudioContext || window.webkitOfflineAudioContext;
    return new Offline(1, 1, 44100).decodeAudioData(bytes);
  }

  get duration() {
    return this.samples ? this.samples.length / this.rate : 0;
  }

  // Draw `audio`: an AudioBuffer (its channels mixed) or mono samples at `rate`.
  setAudio(audio, rate) {
    if (audio && typeof audio.getChannelData === "function") {
      const mixed = new Float32Array(audio.length);
      for (let channel = 0; channel < audio.numberOfChannels; channel += 1) {
        const data = audio.getChannelData(channel);
        for (let i = 0; i < data.length; i += 1) mixed[i] += data[i] / audio.numberOfChannels;
      }
      this.samples = mixed;
      this.rate = audio.sampleRate;
    } else {
      this.samples = audio ? Float32Array.from(audio) : null;
      this.rate = rate || 1;
    }
    this._peaks = null;
    this.canvas.dataset.samples = String(this.samples ? this.samples.length : 0);
    this.canvas.dataset.duration = this.duration.toFixed(3);
    if (this.samples) this.canvas.hidden = false;
    this.draw();
    return this;
  }

  // Decode and draw encoded audio; for a view that follows a media element, as its source.
  async load(data) {
    this._src = this.media ? this.media.src : null;
    const wanted = this._src;
    const audio = await Waveform.decode(data);
    if (this.media && this.media.src !== wanted) return this; // another source came meanwhile
    return this.setAudio(audio);
  }

  setKept(kept) {
    this.kept = kept;
    this.draw();
    return this;
  }

  setWords(words) {
    this.words = words && words.length ? words : null;
    this.canvas.dataset.words = String(this.words ? this.words.length : 0);
    this.draw();
    return this;
  }

  // Follow a media element's playing position; its source is read (once) when it plays.
  follow(media) {
    this.media = media;
    this.clock = null;
    const redraw = () => this.draw();
    media.addEventListener("play", () => {
      this._readSource();
      this._animate();
    });
    for (const name of ["pause", "seeked", "ended", "timeupdate"]) media.addEventListener(name, redraw);
    media.addEventListener("emptied", () => {
      if (this.media.src !== this._src) {
        this.setAudio(null);
        this.canvas.hidden = true;
      }
    });
    return this;
  }

  // Follow Web Audio playback that started at `start` on `context`'s clock.
  startAt(context, start = context.currentTime) {
    this.clock = { context, start };
    this._animate();
    return this;
  }

  stop() {
    this.clock = null;
    cancelAnimationFrame(this._frame);
    this.draw();
  }

  position() {
    if (this.media) return this.media.currentTime || 0;
    if (this.clock) return Math.max(0, this.clock.context.currentTime - this.clock.start);
    return 0;
  }

  playing() {
    if (this.media) return !this.media.paused && !this.media.ended;
    return this.clock !== null && this.position() < this.duration;
  }

  async _readSource() {
    const src = this.media.src;
    if (!src || src === this._src) return;
    this._src = src;
    try {
      const response = await fetch(src, { credentials: "same-origin" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const audio = await Waveform.decode(await response.arrayBuffer());
      if (this.media.src === src) this.setAudio(audio);
    } catch (error) {
      if (this._src === src) this._src = null; // try again at the next play
      console.warn("No waveform for", src, error);
    }
  }

  _animate() {
    cancelAnimationFrame(this._frame);
    const tick = () => {
      this.draw();
      if (this.playing()) this._frame = requestAnimationFrame(tick);
      else if (this.clock) this.clock = null;
    };
    this._frame = requestAnimationFrame(tick);
  }

  _seek(event) {
    if (!this.media || !this.samples) return;
    const box = this.canvas.getBoundingClientRect();
    this.media.currentTime = Math.max(0, (event.clientX - box.left) / box.width) * this.duration;
  }

  // Min and max of the samples in each of `width` columns, scaled so the loudest fills the
  // height (quiet audio stays visible; near silence is not blown up to full height).
  _peaksFor(width) {
    if (this._peaks && this._peaks.width === width) return this._peaks;
    const samples = this.samples;
    const min = new Float32Array(width);
    const max = new Float32Array(width);
    const step = samples.length / width;
    let peak = 0.1;
    for (let x = 0; x < width; x += 1) {
      const from = Math.floor(x * step);
      const to = Math.max(from + 1, Math.floor((x + 1) * step));
      let low = 0;
      let high = 0;
      for (let i = from; i < to && i < samples.length; i += 1) {
        const value = samples[i];
        if (value < low) low = value;
        if (value > high) high = value;
      }
      min[x] = low;
      max[x] = high;
      peak = Math.max(peak, high, -low);
    }
    for (let x = 0; x < width; x += 1) {
      min[x] /= peak;
      max[x] /= peak;
    }
    this._peaks = { width, min, max };
    return this._peaks;
  }

  draw() {
    const canvas = this.canvas;
    const words = this.words && this.words.length ? this.words : null;
    const cssHeight = this.height + (words ? this.wordHeight : 0);
    canvas.style.height = `${cssHeight}px`;
    const scale = window.devicePixelRatio || 1;
    const cssWidth = canvas.clientWidth;
    if (!cssWidth || !this.samples) return;
    const width = Math.round(cssWidth * scale);
    const height = Math.round(cssHeight * scale);
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    const style = getComputedStyle(canvas);
    const color = (name, fallback) => style.getPropertyValue(name).trim() || fallback;
    const accent = color("--accent", "#2f6db5");
    const muted = color("--muted", "#5c6672");
    const g = canvas.getContext("2d");
    g.setTransform(1, 0, 0, 1, 0, 0);
    g.clearRect(0, 0, width, height);
    const duration = this.duration || 1;
    const xOf = (seconds) => Math.round((seconds / duration) * width);
    const wave = Math.round(this.height * scale);
    const middle = wave / 2;
    const position = Math.min(this.position(), duration);
    const played = xOf(position);
    let keptFrom = 0;
    let keptTo = width;
    if (this.kept) {
      keptFrom = xOf(this.kept[0]);
      keptTo = xOf(this.kept[1]);
      g.fillStyle = "rgba(30, 122, 58, 0.14)";
      g.fillRect(keptFrom, 0, Math.max(1, keptTo - keptFrom), wave);
    }
    const peaks = this._peaksFor(width);
    for (let x = 0; x < width; x += 1) {
      const outside = x < keptFrom || x >= keptTo;
      g.globalAlpha = outside ? 0.35 : 1;
      g.fillStyle = x < played ? accent : muted;
      const top = middle - peaks.max[x] * (middle - 1);
      const bottom = middle - peaks.min[x] * (middle - 1);
      g.fillRect(x, top, 1, Math.max(1, bottom - top));
    }
    g.globalAlpha = 1;
    if (words) this._drawWords(g, words, xOf, wave, height, scale, position, accent, muted);
    g.fillStyle = "#b3261e";
    g.fillRect(Math.min(played, width - Math.ceil(scale)), 0, Math.ceil(2 * scale), wave);
    canvas.dataset.position = position.toFixed(3);
  }

  _drawWords(g, words, xOf, top, height, scale, position, accent, muted) {
    g.font = `${Math.round(11 * scale)}px system-ui, sans-serif`;
    g.textBaseline = "middle";
    const middle = (top + height) / 2;
    let spoken = "";
    for (const { word, start_time: start, end_time: end } of words) {
      const from = xOf(start);
      const to = Math.max(from + 1, xOf(end));
      const now = position >= start && position < end;
      if (now) spoken = word;
      g.fillStyle = now ? "rgba(47, 109, 181, 0.15)" : "transparent";
      g.fillRect(from, top, to - from, height - top);
      g.fillStyle = muted;
      g.fillRect(from, top, Math.ceil(scale), height - top);
      g.save();
      g.beginPath();
      g.rect(from, top, to - from, height - top);
      g.clip();
      g.fillStyle = now ? accent : muted;
      g.fillText(word, from + 2 * scale, middle);
      g.restore();
    }
    this.canvas.dataset.word = spoken;
  }
}

window.Waveform = Waveform;
