// ECharts with only the parts the app draws (tree-shaken: the first paint loads less).
import { BarChart, LineChart, PieChart } from "echarts/charts";
import { GridComponent, LegendComponent, TooltipComponent } from "echarts/components";
import * as echarts from "echarts/core";
import { CanvasRenderer } from "echarts/renderers";

echarts.use([BarChart, LineChart, PieChart, GridComponent, LegendComponent, TooltipComponent, CanvasRenderer]);

export type Option = echarts.EChartsCoreOption;

/** Draw an option into an element; returns the cleanup (resize follows the element, so wall screens work). */
export function draw(element: HTMLElement, option: Option): () => void {
  const chart = echarts.init(element, null, { renderer: "canvas" });
  chart.setOption(option);
  const observer = new ResizeObserver(() => chart.resize());
  observer.observe(element);
  return () => {
    observer.disconnect();
    chart.dispose();
  };
}

/** The option a chart in this element draws (the e2e tests compare it with the GraphQL answer). */
export function optionOf(element: Element): unknown {
  const chart = echarts.getInstanceByDom(element as HTMLElement);
  return chart ? chart.getOption() : null;
}
