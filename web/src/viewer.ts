/**
 * The result viewer: Gaussians drawn by Spark (@sparkjsdev/spark, a maintained 3DGS renderer on three.js) and
 * the mesh by three.js (GLTFLoader), one canvas, orbit controls, a switch between the two.
 *
 * Notes:
 * - Alternatives considered: @mkkellogg/gaussian-splats-3d (its author points new work to Spark) and PlayCanvas
 *   (a second engine beside three.js, which the mesh view needs anyway). Spark sorts splats in a worker (WASM) and
 *   renders with WebGL2, so it runs where WebGPU does not.
 * - Our PLY and GLB are Y-up (the exporters apply TRELLIS's Z-up -> Y-up turn), so no rotation is applied here.
 *   The object fits the unit cube around the origin; the camera starts 2 units away.
 * - Rendering is on demand (controls change, new content, resize) instead of a fixed loop, so an idle page does
 *   not spin a CPU core under software GL; Spark's sort finishing also asks for a frame (`onDirty`).
 */

import { SparkRenderer, SplatFileType, SplatMesh } from '@sparkjsdev/spark';
import * as THREE from 'three';
import { OrbitControls } from 'three/examples/jsm/controls/OrbitControls.js';
import { GLTFLoader } from 'three/examples/jsm/loaders/GLTFLoader.js';

/** What the viewer shows. */
export type ViewerMode = 'gaussians' | 'mesh';

/** Options for {@link ResultViewer}. */
export interface ResultViewerOptions {
  /** Background colour (CSS hex number). */
  background?: number;
  /** Initial camera distance from the origin (the object fits the unit cube). */
  distance?: number;
}

export const RESULT_VIEWER_DEFAULTS: Required<ResultViewerOptions> = {
  background: 0x1e2228,
  distance: 2.0,
};

/** Vertical field of view of the camera, degrees. */
const FOV_DEG = 40;

/**
 * An interactive viewer in `container`.
 * @example
 * const viewer = new ResultViewer(document.querySelector('#viewer')!);
 * await viewer.showGaussians(plyBytes);
 */
export class ResultViewer {
  readonly canvas: HTMLCanvasElement;
  private readonly renderer: THREE.WebGLRenderer;
  private readonly scene = new THREE.Scene();
  private readonly camera: THREE.PerspectiveCamera;
  private readonly controls: OrbitControls;
  private readonly spark: SparkRenderer;
  private splats: SplatMesh | null = null;
  private mesh: THREE.Object3D | null = null;
  private mode: ViewerMode = 'gaussians';
  private frameRequested = false;
  private readonly resizeObserver: ResizeObserver;

  constructor(container: HTMLElement, options: ResultViewerOptions = {}) {
    const o = { ...RESULT_VIEWER_DEFAULTS, ...options };
    // preserveDrawingBuffer: the canvas can be read back (screenshots, the tests' pixel check) after a frame.
    this.renderer = new THREE.WebGLRenderer({ antialias: false, preserveDrawingBuffer: true });
    this.renderer.setPixelRatio(Math.min(2, window.devicePixelRatio || 1));
    this.canvas = this.renderer.domElement;
    container.appendChild(this.canvas);
    this.scene.background = new THREE.Color(o.background);
    this.camera = new THREE.PerspectiveCamera(FOV_DEG, 1, 0.01, 100);
    this.camera.position.set(o.distance * 0.6, o.distance * 0.45, o.distance * 0.66);
    this.camera.lookAt(0, 0, 0);
    this.controls = new OrbitControls(this.camera, this.canvas);
    this.controls.addEventListener('change', () => this.requestFrame());
    this.spark = new SparkRenderer({ renderer: this.renderer, onDirty: () => this.requestFrame() });
    this.scene.add(this.spark);
    this.scene.add(new THREE.HemisphereLight(0xffffff, 0x444444, 2.0));
    const sun = new THREE.DirectionalLight(0xffffff, 1.5);
    sun.position.set(1, 2, 1.5);
    this.scene.add(sun);
    this.resizeObserver = new ResizeObserver(() => this.resize(container));
    this.resizeObserver.observe(container);
    this.resize(container);
  }

  private resize(container: HTMLElement): void {
    const w = Math.max(1, container.clientWidth);
    const h = Math.max(1, container.clientHeight);
    this.renderer.setSize(w, h, false);
    this.camera.aspect = w / h;
    this.camera.updateProjectionMatrix();
    this.requestFrame();
  }

  /** Schedules one frame (coalesced). */
  requestFrame(): void {
    if (this.frameRequested) return;
    this.frameRequested = true;
    requestAnimationFrame(() => {
      this.frameRequested = false;
      this.renderer.render(this.scene, this.camera);
    });
  }

  /**
   * Shows Gaussians from 3DGS PLY bytes (ours or any 3DGS PLY); resolves when they are loaded.
   * @example
   * await viewer.showGaussians(new Uint8Array(await file.arrayBuffer()));
   */
  async showGaussians(ply: Uint8Array | ArrayBuffer, name = 'gaussians.ply'): Promise<number> {
    const mesh = new SplatMesh({ fileBytes: ply, fileType: SplatFileType.PLY, fileName: name });
    await mesh.initialized;
    if (this.splats) {
      this.scene.remove(this.splats);
      this.splats.dispose();
    }
    this.splats = mesh;
    this.scene.add(mesh);
    this.setMode('gaussians');
    return mesh.packedSplats?.numSplats ?? 0;
  }

  /** Shows a GLB mesh; resolves when parsed. */
  async showMesh(glb: ArrayBuffer): Promise<void> {
    const gltf = await new GLTFLoader().parseAsync(glb, '');
    if (this.mesh) this.scene.remove(this.mesh);
    this.mesh = gltf.scene;
    this.scene.add(gltf.scene);
    this.setMode(this.splats ? this.mode : 'mesh');
  }

  /** Switches between Gaussians and mesh. */
  setMode(mode: ViewerMode): void {
    this.mode = mode;
    if (this.splats) this.splats.visible = mode === 'gaussians';
    if (this.mesh) this.mesh.visible = mode === 'mesh';
    this.requestFrame();
  }

  get hasGaussians(): boolean {
    return this.splats !== null;
  }

  get hasMesh(): boolean {
    return this.mesh !== null;
  }

  /** Removes everything shown. */
  clear(): void {
    if (this.splats) {
      this.scene.remove(this.splats);
      this.splats.dispose();
      this.splats = null;
    }
    if (this.mesh) {
      this.scene.remove(this.mesh);
      this.mesh = null;
    }
    this.requestFrame();
  }
}
