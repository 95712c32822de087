// drape web viewer: plays one animated avatar GLB (skinned body + morph-target garment).
//
// Query parameters: file=NAME (a name from /api/files; default: the first),
// frame=N (start at frame N), autoplay=0 (start paused), follow=0 (fixed camera).
//
// Test hook: window.drapeViewer = {ready, error, file, files, frameCount, fps, frame, playing,
// follow, setFrame(n), play(), pause(), setFollow(on)}. `ready` turns true once the file is
// loaded and drawn. The same state is mirrored on <html data-drape-state/frame/frame-count>.
//
// Camera: framed on the avatar at the first frame; with "follow" on (the default) the camera
// and the orbit centre move along with the skeleton's root bone over the ground, so avatars
// that walk away stay in view.

import * as THREE from 'three';
import { GLTFLoader } from 'three/addons/loaders/GLTFLoader.js';
import { OrbitControls } from 'three/addons/controls/OrbitControls.js';

const BACKGROUND = 0xd9dce1;
const DEFAULT_FPS = 30;

const ui = {
  view: document.getElementById('view'),
  message: document.getElementById('message'),
  play: document.getElementById('play'),
  slider: document.getElementById('slider'),
  label: document.getElementById('label'),
  files: document.getElementById('files'),
  follow: document.getElementById('follow'),
};

const state = {
  ready: false,
  error: null,
  file: null,
  files: [],
  frameCount: 0,
  fps: DEFAULT_FPS,
  frame: 0,
  playing: false,
  follow: true,
  time: 0, // seconds, in [0, frameCount / fps)
};

let renderer = null;
let scene = null;
let camera = null;
let controls = null;
let mixer = null;
let actions = [];
let lastTick = null;
let anchor = null; // root bone the camera follows
const anchorLast = new THREE.Vector3();
const anchorNow = new THREE.Vector3();

function showMessage(text, { error = false } = {}) {
  ui.message.textContent = text;
  ui.message.classList.toggle('error', error);
  ui.message.hidden = false;
}

function hideMessage() {
  ui.message.hidden = true;
}

function publish() {
  // Mirror the state on <html data-drape-*> so that tools reading only the DOM
  // (e.g. headless Chromium's --dump-dom) can see it.
  const d = document.documentElement.dataset;
  d.drapeState = state.error ? 'error' : (state.ready ? 'ready' : 'loading');
  d.drapeFrame = String(state.frame);
  d.drapeFrameCount = String(state.frameCount);
  if (state.error) d.drapeError = state.error;
}

function fail(text) {
  state.error = text;
  state.ready = false;
  showMessage(text, { error: true });
  publish();
  console.error('drape viewer: ' + text);
}

window.addEventListener('error', (ev) => { if (!state.error) fail('Viewer error: ' + ev.message); });
window.addEventListener('unhandledrejection', (ev) => {
  if (!state.error) fail('Viewer error: ' + (ev.reason && ev.reason.message ? ev.reason.message : ev.reason));
});

// ---- time and frames

function frameOfTime(t) {
  return Math.min(state.frameCount - 1, Math.max(0, Math.round(t * state.fps)));
}

function applyTime(t) {
  // Each action's time is set directly and the mixer advanced by 0 s: this samples every
  // clip exactly at t (no wrap-around at the clip's end, which mixer.setTime would do).
  state.time = t;
  const shown = Math.min(t, (state.frameCount - 1) / state.fps);
  if (mixer) {
    for (const action of actions) action.time = Math.min(shown, action.getClip().duration);
    mixer.update(0);
  }
  followAnchor();
  const frame = frameOfTime(shown);
  if (frame !== state.frame || ui.slider.value !== String(frame)) {
    state.frame = frame;
    ui.slider.value = String(frame);
  }
  updateLabel();
  publish();
}

function updateLabel() {
  const n = state.frameCount;
  const fps = state.fps;
  const t = state.frame / fps;
  const total = Math.max(0, n - 1) / fps;
  ui.label.textContent = `frame ${state.frame} / ${Math.max(0, n - 1)}  ·  ${t.toFixed(2)} s / ${total.toFixed(2)} s`;
}

function setFrame(n) {
  if (!state.ready) return false;
  pause();
  const frame = Math.min(state.frameCount - 1, Math.max(0, Math.round(Number(n) || 0)));
  applyTime(frame / state.fps);
  render();
  return true;
}

function anchorPosition(out) {
  anchor.updateWorldMatrix(true, false);
  return out.setFromMatrixPosition(anchor.matrixWorld);
}

function followAnchor() {
  // Move camera and orbit centre by the root bone's motion over the ground (x, z).
  if (!anchor || !controls) return;
  anchorPosition(anchorNow);
  if (state.follow) {
    const dx = anchorNow.x - anchorLast.x;
    const dz = anchorNow.z - anchorLast.z;
    camera.position.x += dx;
    camera.position.z += dz;
    controls.target.x += dx;
    controls.target.z += dz;
  }
  anchorLast.copy(anchorNow);
}

function setFollow(on) {
  state.follow = Boolean(on);
  ui.follow.checked = state.follow;
  if (anchor) anchorPosition(anchorLast);
  return state.follow;
}

function play() {
  if (!state.ready || state.frameCount < 2) return false;
  state.playing = true;
  lastTick = null;
  ui.play.textContent = 'Pause';
  return true;
}

function pause() {
  state.playing = false;
  ui.play.textContent = 'Play';
  return true;
}

window.drapeViewer = {
  get ready() { return state.ready; },
  get error() { return state.error; },
  get file() { return state.file; },
  get files() { return state.files.map((f) => f.name); },
  get frameCount() { return state.frameCount; },
  get fps() { return state.fps; },
  get frame() { return state.frame; },
  get playing() { return state.playing; },
  get follow() { return state.follow; },
  setFrame,
  play,
  pause,
  setFollow,
};

// ---- scene

function createRenderer() {
  try {
    renderer = new THREE.WebGLRenderer({ antialias: true });
  } catch (err) {
    fail('WebGL is not available in this browser: ' + (err && err.message ? err.message : err));
    return false;
  }
  renderer.setPixelRatio(window.devicePixelRatio || 1);
  renderer.setSize(window.innerWidth, window.innerHeight);
  renderer.setClearColor(BACKGROUND, 1);
  ui.view.appendChild(renderer.domElement);

  scene = new THREE.Scene();
  scene.background = new THREE.Color(BACKGROUND);
  camera = new THREE.PerspectiveCamera(35, window.innerWidth / window.innerHeight, 0.01, 200);
  camera.position.set(0, 1.2, 4);

  const hemi = new THREE.HemisphereLight(0xffffff, 0x8a8a80, 1.3);
  scene.add(hemi);
  const sun = new THREE.DirectionalLight(0xffffff, 2.4);
  sun.position.set(2.0, 4.0, 3.0);
  scene.add(sun);

  controls = new OrbitControls(camera, renderer.domElement);
  controls.enableDamping = true;
  controls.dampingFactor = 0.15;
  controls.target.set(0, 0.9, 0);

  window.addEventListener('resize', onResize);
  return true;
}

function onResize() {
  if (!renderer) return;
  camera.aspect = window.innerWidth / window.innerHeight;
  camera.updateProjectionMatrix();
  renderer.setSize(window.innerWidth, window.innerHeight);
  render();
}

function avatarBox(root) {
  // World bounding box of the visible meshes as currently posed (skinning and morphs
  // applied); garment chunks hidden by a zero scale are left out.
  root.updateMatrixWorld(true);
  const box = new THREE.Box3();
  const part = new THREE.Box3();
  root.traverse((obj) => {
    if (!obj.isMesh || !obj.visible) return;
    if (Math.abs(obj.matrixWorld.determinant()) < 1e-12) return;
    if (obj.isSkinnedMesh && obj.skeleton) obj.skeleton.update();
    part.makeEmpty();
    part.expandByObject(obj, true);
    box.union(part);
  });
  return box;
}

function frameCamera(box) {
  const size = box.getSize(new THREE.Vector3());
  const centre = box.getCenter(new THREE.Vector3());
  const halfFov = THREE.MathUtils.degToRad(camera.fov / 2);
  const fitH = (size.y / 2) / Math.tan(halfFov);
  const fitW = (Math.max(size.x, size.z) / 2) / (Math.tan(halfFov) * camera.aspect);
  const dist = Math.max(fitH, fitW, 0.3) * 1.35 + size.z / 2;
  // The avatar faces +z (glTF front): look from the front, a little from the right and above.
  const dir = new THREE.Vector3(0.35, 0.12, 1.0).normalize();
  camera.position.copy(centre).addScaledVector(dir, dist);
  camera.near = Math.max(0.005, dist / 200);
  camera.far = dist * 50;
  camera.updateProjectionMatrix();
  controls.target.copy(centre);
  controls.update();
}

function travelBox(box) {
  // `box` grown by the root bone's path over the whole clip (sampled at up to 240 frames).
  const out = box.clone();
  if (!anchor || state.frameCount < 2) return out;
  const steps = Math.min(state.frameCount, 240);
  const p = new THREE.Vector3();
  const p0 = anchorPosition(new THREE.Vector3());
  for (let i = 0; i < steps; i++) {
    const t = ((state.frameCount - 1) / state.fps) * (i / Math.max(1, steps - 1));
    for (const action of actions) action.time = Math.min(t, action.getClip().duration);
    mixer.update(0);
    anchorPosition(p).sub(p0);
    out.expandByPoint(box.min.clone().add(p));
    out.expandByPoint(box.max.clone().add(p));
  }
  return out;
}

function addGround(box, floorY) {
  const extent = Math.max(2, Math.max(box.max.x - box.min.x, box.max.z - box.min.z) + 2);
  const size = Math.ceil(extent);
  const divisions = size <= 100 ? size * 4 : Math.min(400, size);
  const grid = new THREE.GridHelper(size, divisions, 0x8c9096, 0xb4b8be);
  const centre = box.getCenter(new THREE.Vector3());
  grid.position.set(Math.round(centre.x), floorY, Math.round(centre.z));
  scene.add(grid);
}

function render() {
  if (renderer) renderer.render(scene, camera);
}

function tick(now) {
  requestAnimationFrame(tick);
  if (state.ready && state.playing) {
    const dt = lastTick === null ? 0 : Math.min(0.25, (now - lastTick) / 1000);
    const period = state.frameCount / state.fps;
    let t = state.time + dt;
    if (t >= period) t %= period;
    applyTime(t);
  }
  lastTick = now;
  if (controls) controls.update();
  render();
}

// ---- loading

function fileUrl(name) {
  return 'files/' + name.split('/').map(encodeURIComponent).join('/');
}

async function listFiles() {
  let resp;
  try {
    resp = await fetch('api/files', { cache: 'no-store' });
  } catch (err) {
    throw new Error('cannot reach the drape viewer server (' + err.message + ')');
  }
  if (!resp.ok) throw new Error(`the server answered ${resp.status} for api/files`);
  const listing = await resp.json();
  if (listing.format !== 'drape.viewer.files' || listing.version !== 1) {
    throw new Error(`api/files: expected format drape.viewer.files version 1, got ${listing.format} version ${listing.version}`);
  }
  return listing;
}

function fillPicker(files, current) {
  ui.files.textContent = '';
  for (const f of files) {
    const opt = document.createElement('option');
    opt.value = f.name;
    opt.textContent = `${f.name} (${(f.bytes / 1e6).toFixed(1)} MB)`;
    opt.selected = f.name === current;
    ui.files.appendChild(opt);
  }
  ui.files.hidden = files.length < 2;
  ui.files.onchange = () => {
    const params = new URLSearchParams(window.location.search);
    params.set('file', ui.files.value);
    params.delete('frame');
    window.location.search = params.toString();
  };
}

function loadGltf(url, name) {
  return new Promise((resolve, reject) => {
    new GLTFLoader().load(
      url,
      resolve,
      (ev) => {
        if (ev.total) showMessage(`Loading ${name}… ${Math.round((100 * ev.loaded) / ev.total)}%`);
      },
      (err) => reject(err instanceof Error ? err : new Error(String(err && err.message ? err.message : err))),
    );
  });
}

function setupAnimation(gltf) {
  const extras = (gltf.asset && gltf.asset.extras) || {};
  mixer = new THREE.AnimationMixer(gltf.scene);
  actions = gltf.animations.map((clip) => {
    const action = mixer.clipAction(clip);
    action.play();
    return action;
  });
  const duration = gltf.animations.reduce((m, clip) => Math.max(m, clip.duration), 0);
  const fps = Number(extras.fps) > 0 ? Number(extras.fps) : DEFAULT_FPS;
  let frameCount = Number.isInteger(extras.frame_count) && extras.frame_count > 0
    ? extras.frame_count : Math.round(duration * fps) + 1;
  if (!actions.length) frameCount = 1;
  state.fps = fps;
  state.frameCount = frameCount;
  return extras;
}

async function start() {
  publish();
  if (!createRenderer()) return;
  requestAnimationFrame(tick);
  const params = new URLSearchParams(window.location.search);

  let listing;
  try {
    listing = await listFiles();
  } catch (err) {
    fail('Could not list the GLB files: ' + err.message);
    return;
  }
  state.files = listing.files;
  if (!listing.files.length) {
    fail(`No .glb files in the folder "${listing.directory}".`);
    return;
  }
  const wanted = params.get('file');
  const entry = wanted ? listing.files.find((f) => f.name === wanted) : listing.files[0];
  if (!entry) {
    fillPicker(listing.files, null);
    fail(`"${wanted}" is not among the GLB files in "${listing.directory}".`);
    return;
  }
  state.file = entry.name;
  document.title = `${entry.name} – drape viewer`;
  fillPicker(listing.files, entry.name);
  showMessage(`Loading ${entry.name}…`);

  let gltf;
  try {
    gltf = await loadGltf(fileUrl(entry.name), entry.name);
  } catch (err) {
    fail(`Could not load ${entry.name}: ${err.message}`);
    return;
  }

  const extras = setupAnimation(gltf);
  gltf.scene.traverse((obj) => {
    if (!anchor && obj.isSkinnedMesh && obj.skeleton && obj.skeleton.bones.length) anchor = obj.skeleton.bones[0];
  });
  gltf.scene.traverse((obj) => {
    // Skinned and morphing meshes move far from their rest bounds: never cull them.
    if (obj.isMesh) obj.frustumCulled = false;
  });
  scene.add(gltf.scene);

  applyTime(0);
  const box = avatarBox(gltf.scene);
  if (box.isEmpty()) {
    box.set(new THREE.Vector3(-0.5, 0, -0.5), new THREE.Vector3(0.5, 1.8, 0.5));
  }
  const isDrape = extras.drape_format === 'drape.glb';
  addGround(travelBox(box), isDrape ? 0 : box.min.y);
  applyTime(0);
  frameCamera(box);
  if (anchor) anchorPosition(anchorLast);
  ui.follow.disabled = !anchor;
  setFollow(params.get('follow') !== '0' && Boolean(anchor));
  ui.follow.addEventListener('change', () => setFollow(ui.follow.checked));

  ui.slider.max = String(Math.max(0, state.frameCount - 1));
  ui.slider.disabled = state.frameCount < 2;
  ui.play.disabled = state.frameCount < 2;
  ui.slider.addEventListener('input', () => setFrame(Number(ui.slider.value)));
  ui.play.addEventListener('click', () => (state.playing ? pause() : play()));
  window.addEventListener('keydown', (ev) => {
    // Focused controls handle their own keys (the slider its arrows, buttons the space bar).
    if (ev.target && ['SELECT', 'INPUT', 'BUTTON'].includes(ev.target.tagName)) return;
    if (ev.key === ' ') { ev.preventDefault(); if (state.playing) pause(); else play(); }
    else if (ev.key === 'ArrowRight') setFrame(state.frame + 1);
    else if (ev.key === 'ArrowLeft') setFrame(state.frame - 1);
    else if (ev.key === 'Home') setFrame(0);
    else if (ev.key === 'End') setFrame(state.frameCount - 1);
  });

  const startFrame = params.has('frame') ? Number(params.get('frame')) : 0;
  const frame = Math.min(state.frameCount - 1, Math.max(0, Math.round(startFrame) || 0));
  applyTime(frame / state.fps);
  hideMessage();
  render();
  state.ready = true;
  publish();
  if (params.get('autoplay') !== '0') play();
  else pause();
}

start();
