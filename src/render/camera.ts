/**
 * Cameras of the official render utilities (A:`amodal3r/utils/render_utils.py`, `yaw_pitch_r_fov_to_extrinsics_intrinsics`):
 * a camera at `r * (sin(yaw) cos(pitch), cos(yaw) cos(pitch), sin(pitch))` looking at the origin with world up +Z,
 * built like utils3d's `extrinsics_look_at` (OpenCV camera: x right, y down, z forward), intrinsics from the
 * field of view with the principal point at the image centre.
 *
 * Worked convention (asserted in the tests): at yaw 0 the camera sits on +Y looking towards -Y, so world +X
 * appears LEFT of the image centre; at yaw 90 degrees the camera sits on +X and world +Y appears RIGHT of centre.
 * World +Z always appears above the centre (image y grows downwards).
 */

/** A pinhole camera: world-to-camera rigid transform (OpenCV axes) and full fields of view. */
export interface Camera {
  /** World-to-camera 3x4 rows `[R | t]`, row-major (12 numbers): `p_cam = R p_world + t`. */
  view: Float64Array;
  /** Camera centre in world coordinates. */
  position: [number, number, number];
  /** Full horizontal field of view, radians. */
  fovX: number;
  /** Full vertical field of view, radians. */
  fovY: number;
}

/** Options for {@link turntableCameras}; defaults follow `render_video`. */
export interface TurntableOptions {
  /** Distance of the camera from the origin (default 2). */
  radius?: number;
  /** Field of view in degrees (default 40). */
  fovDegrees?: number;
  /** Mean pitch in radians (default 0.25). */
  pitchMean?: number;
  /** Pitch oscillation amplitude in radians (default 0.5). */
  pitchAmplitude?: number;
  /** The "2 pi" of the official linspace, which uses 2 * 3.1415 (default 2 * 3.1415). */
  turn?: number;
}

/** `render_video` writes its full turn as `2 * 3.1415`, not 2 pi: the last frame stops 1.85e-4 rad short. */
// biome-ignore lint/suspicious/noApproximativeNumericConstant: the official code's truncated pi, on purpose.
export const OFFICIAL_TURN = 2 * 3.1415;

export const TURNTABLE_DEFAULTS: Required<TurntableOptions> = {
  radius: 2,
  fovDegrees: 40,
  pitchMean: 0.25,
  pitchAmplitude: 0.5,
  turn: OFFICIAL_TURN,
};

function normalize(v: [number, number, number], what: string): [number, number, number] {
  const l = Math.hypot(v[0], v[1], v[2]);
  if (!(l > 1e-12)) throw new Error(`lookAt: degenerate ${what} (eye straight above/below the target?)`);
  return [v[0] / l, v[1] / l, v[2] / l];
}

function cross(a: readonly number[], b: readonly number[]): [number, number, number] {
  return [a[1]! * b[2]! - a[2]! * b[1]!, a[2]! * b[0]! - a[0]! * b[2]!, a[0]! * b[1]! - a[1]! * b[0]!];
}

/**
 * A camera at `eye` looking at `target` with the given world up (utils3d `extrinsics_look_at`: z = forward,
 * x = z cross up, y = z cross x).
 * @example
 * const cam = lookAt([0, 2, 0], [0, 0, 0], [0, 0, 1], Math.PI / 4.5, Math.PI / 4.5);
 */
export function lookAt(
  eye: readonly [number, number, number],
  target: readonly [number, number, number],
  up: readonly [number, number, number],
  fovX: number,
  fovY: number,
): Camera {
  const zr: [number, number, number] = [target[0] - eye[0], target[1] - eye[1], target[2] - eye[2]];
  const xr = cross(zr, up);
  const yr = cross(zr, xr);
  const z = normalize(zr, 'forward axis');
  const x = normalize(xr, 'right axis');
  const y = normalize(yr, 'down axis');
  const view = new Float64Array(12);
  const rows = [x, y, z];
  for (let r = 0; r < 3; r++) {
    const a = rows[r]!;
    view[r * 4] = a[0];
    view[r * 4 + 1] = a[1];
    view[r * 4 + 2] = a[2];
    view[r * 4 + 3] = -(a[0] * eye[0] + a[1] * eye[1] + a[2] * eye[2]);
  }
  return { view, position: [eye[0], eye[1], eye[2]], fovX, fovY };
}

/**
 * The official orbit camera: yaw/pitch in radians, field of view in degrees (same for x and y).
 * @example
 * const cam = orbitCamera(Math.PI / 2, 0.3, 2, 40);
 */
export function orbitCamera(yaw: number, pitch: number, radius: number, fovDegrees: number): Camera {
  const eye: [number, number, number] = [
    radius * Math.sin(yaw) * Math.cos(pitch),
    radius * Math.cos(yaw) * Math.cos(pitch),
    radius * Math.sin(pitch),
  ];
  const fov = (fovDegrees * Math.PI) / 180;
  return lookAt(eye, [0, 0, 0], [0, 0, 1], fov, fov);
}

/** `n` evenly spaced values from `a` to `b` inclusive (torch.linspace). */
export function linspace(a: number, b: number, n: number): number[] {
  if (n === 1) return [a];
  return Array.from({ length: n }, (_, i) => a + ((b - a) * i) / (n - 1));
}

/**
 * The `render_video` camera path: yaw = linspace(0, 2*3.1415, n), pitch = 0.25 + 0.5 sin(linspace(0, 2*3.1415, n)),
 * radius 2, fov 40 degrees.
 * @example
 * const cams = turntableCameras(300); // the official 300-frame orbit
 */
export function turntableCameras(n: number, options: TurntableOptions = {}): Camera[] {
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`turntableCameras: frame count must be a positive integer, got ${n}`);
  const o = { ...TURNTABLE_DEFAULTS, ...options };
  const t = linspace(0, o.turn, n);
  return t.map((yaw) =>
    orbitCamera(yaw, o.pitchMean + o.pitchAmplitude * Math.sin(yaw), o.radius, o.fovDegrees),
  );
}

/** Focal lengths in pixels for an image of `width` x `height` (rasteriser: `W / (2 tan(fovX / 2))`). */
export function focalPixels(camera: Camera, width: number, height: number): [number, number] {
  return [width / (2 * Math.tan(camera.fovX / 2)), height / (2 * Math.tan(camera.fovY / 2))];
}

/**
 * The `render_multiview` cameras of Amodal3R: 8 yaws 0, 45, ..., 315 degrees at pitch 30 degrees, radius 2,
 * fov 40 (the official function ignores `nviews` beyond these 8 through `zip`). Used for the GS/mesh previews
 * (white background in `inference.py`) and for GLB texture baking (black background).
 * @example
 * const cams = multiviewCameras(); // 8 cameras
 */
export function multiviewCameras(): Camera[] {
  return Array.from({ length: 8 }, (_, i) =>
    orbitCamera((i * 45 * Math.PI) / 180, (30 * Math.PI) / 180, 2, 40),
  );
}
