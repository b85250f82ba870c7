// The treemap of the day's change (gold_treechart): one tile per symbol,
// laid out by d3-hierarchy's squarified treemap, its area the day's traded
// value (volume × VWAP, every trade of the date) when every symbol has
// trades, else equal, and its colour the change since the previous close,
// from red through grey to green, full at ±3 %.
import { hierarchy, treemap } from "d3-hierarchy";
import { signed } from "./format.js";

const FULL_AT_PCT = 3;
const GREY = [122, 133, 145];
const GREEN = [15, 123, 85];
const RED = [192, 57, 43];

/** Creates the treemap in its container; `onSelect(symbol)` on a tile's click. */
export function treemapView(container, { onSelect }) {
  let last = [];
  new ResizeObserver(() => draw(last)).observe(container);

  /** Lays out and draws the tiles; returns the note on what the area means. */
  function render(tiles) {
    last = tiles;
    draw(tiles);
    return byValue(tiles)
      ? "Area: the day's traded value (volume × VWAP); colour: change since the previous close."
      : "Equal areas (not every symbol has trades); colour: change since the previous close.";
  }

  function draw(tiles) {
    const width = container.clientWidth;
    const height = container.clientHeight;
    if (width === 0 || height === 0) return;
    // Redrawn tiles keep the keyboard focus where it was.
    const focused = container.contains(document.activeElement)
      ? document.activeElement.dataset.symbol
      : undefined;
    const weighted = byValue(tiles);
    const root = hierarchy({ children: tiles })
      .sum((tile) => (tile.children ? 0 : weighted ? tile.value : 1))
      .sort((a, b) => b.value - a.value);
    treemap().size([width, height]).paddingInner(2).round(true)(root);
    const buttons = root.leaves().map((leaf) => {
      const tile = leaf.data;
      const button = document.createElement("button");
      button.type = "button";
      button.className = "tile";
      button.dataset.symbol = tile.symbol;
      button.style.left = `${leaf.x0}px`;
      button.style.top = `${leaf.y0}px`;
      button.style.width = `${leaf.x1 - leaf.x0}px`;
      button.style.height = `${leaf.y1 - leaf.y0}px`;
      button.style.background = colour(tile.changePct);
      const label = `${tile.symbol} ${signed(tile.changePct)} %`;
      button.setAttribute("aria-label", label);
      button.title = label;
      const name = document.createElement("strong");
      name.textContent = tile.symbol;
      button.append(name, `${signed(tile.changePct)} %`);
      button.addEventListener("click", () => onSelect(tile.symbol));
      return button;
    });
    container.replaceChildren(...buttons);
    buttons.find((button) => button.dataset.symbol === focused)?.focus();
  }

  return { render };
}

/** Whether every tile has a traded value to size it by. */
function byValue(tiles) {
  return tiles.length > 0 && tiles.every((tile) => tile.value > 0);
}

/** The tile's colour for a change in percent. */
function colour(changePct) {
  const share = Math.min(1, Math.abs(changePct) / FULL_AT_PCT);
  const target = changePct >= 0 ? GREEN : RED;
  const [r, g, b] = GREY.map((grey, i) =>
    Math.round(grey + (target[i] - grey) * share)
  );
  return `rgb(${r}, ${g}, ${b})`;
}
