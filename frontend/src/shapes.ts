// Marker shapes: kinds are told apart by shape as well as by colour, so the
// same outlines are drawn on canvas (timeline, charts) and as SVG (lists).

export type Shape =
  | "circle"
  | "ring"
  | "square"
  | "diamond"
  | "triangle-up"
  | "triangle-down"
  | "triangle-right"
  | "cross"
  | "plus"
  | "star"
  | "hexagon";

type Poly = ReadonlyArray<readonly [number, number]>;

function plus(w: number): Poly {
  return [
    [-w, -1], [w, -1], [w, -w], [1, -w], [1, w], [w, w],
    [w, 1], [-w, 1], [-w, w], [-1, w], [-1, -w], [-w, -w],
  ];
}

function rotate(poly: Poly, angle: number, scale: number): Poly {
  const c = Math.cos(angle) * scale;
  const s = Math.sin(angle) * scale;
  return poly.map(([x, y]) => [x * c - y * s, x * s + y * c] as const);
}

function regular(n: number, start: number, inner?: number): Poly {
  const out: [number, number][] = [];
  const count = inner ? n * 2 : n;
  for (let i = 0; i < count; i++) {
    const r = inner && i % 2 ? inner : 1;
    const a = start + (i * 2 * Math.PI) / count;
    out.push([r * Math.cos(a), r * Math.sin(a)]);
  }
  return out;
}

// Unit outlines (radius ~1, y pointing down), sized to look equally heavy.
const POLYGONS: Record<Exclude<Shape, "circle" | "ring">, Poly> = {
  square: [[-0.8, -0.8], [0.8, -0.8], [0.8, 0.8], [-0.8, 0.8]],
  diamond: [[0, -1.05], [1.05, 0], [0, 1.05], [-1.05, 0]],
  "triangle-up": [[0, -1], [1, 0.8], [-1, 0.8]],
  "triangle-down": [[-1, -0.8], [1, -0.8], [0, 1]],
  "triangle-right": [[-0.75, -1], [1, 0], [-0.75, 1]],
  cross: rotate(plus(0.32), Math.PI / 4, 1.1),
  plus: plus(0.32),
  star: regular(5, -Math.PI / 2, 0.45).map(([x, y]) => [x * 1.1, y * 1.1 + 0.08] as const),
  hexagon: regular(6, 0),
};

/** Adds the outline of `shape` centred at (x, y) with radius `r` to `path`. */
export function tracePath(path: Path2D | CanvasRenderingContext2D, shape: Shape, x: number, y: number, r: number): void {
  if (shape === "circle" || shape === "ring") {
    path.moveTo(x + r * 0.85, y);
    path.arc(x, y, r * 0.85, 0, 2 * Math.PI);
    return;
  }
  const poly = POLYGONS[shape];
  path.moveTo(x + poly[0][0] * r, y + poly[0][1] * r);
  for (let i = 1; i < poly.length; i++) path.lineTo(x + poly[i][0] * r, y + poly[i][1] * r);
  path.closePath();
}

/** True for shapes drawn as an outline only. */
export function isHollow(shape: Shape): boolean {
  return shape === "ring";
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** A small inline SVG of `shape` in `color` (for lists and legends). */
export function glyph(shape: Shape, color: string, size = 12): SVGSVGElement {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "-1.3 -1.3 2.6 2.6");
  svg.setAttribute("width", String(size));
  svg.setAttribute("height", String(size));
  svg.setAttribute("aria-hidden", "true");
  svg.classList.add("glyph");
  let node: SVGElement;
  if (shape === "circle" || shape === "ring") {
    node = document.createElementNS(SVG_NS, "circle");
    node.setAttribute("r", "0.85");
  } else {
    node = document.createElementNS(SVG_NS, "polygon");
    node.setAttribute("points", POLYGONS[shape].map(([x, y]) => `${x.toFixed(3)},${y.toFixed(3)}`).join(" "));
  }
  if (isHollow(shape)) {
    node.setAttribute("fill", "none");
    node.setAttribute("stroke", color);
    node.setAttribute("stroke-width", "0.45");
  } else {
    node.setAttribute("fill", color);
  }
  svg.appendChild(node);
  return svg;
}
