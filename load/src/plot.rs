//! The latency-versus-throughput plot: one line per curve for p99 and a thin one for p50, with
//! the open-loop run at half the maximum marked, written as SVG.

use std::path::Path;

use plotters::prelude::*;

/// One measured run: what it answered per second and how fast.
#[derive(Debug, Clone, Copy)]
pub struct Point {
    pub throughput: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Closed-loop runs at rising concurrency, and the open-loop run at half their maximum.
#[derive(Debug, Clone)]
pub struct Curve {
    pub name: String,
    pub points: Vec<Point>,
    pub half: Option<Point>,
}

const COLOURS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
];

/// Draws `curves` to `path` (SVG).
pub fn draw(path: &Path, curves: &[Curve]) -> Result<(), String> {
    let all = || {
        curves
            .iter()
            .flat_map(|c| c.points.iter().chain(c.half.iter()))
    };
    let x_max = all().map(|p| p.throughput).fold(1.0, f64::max) * 1.1;
    let y_max = all().map(|p| p.p99_ms).fold(1.0, f64::max) * 1.5;
    let y_min = all().map(|p| p.p50_ms).fold(y_max, f64::min).max(0.01) / 1.5;

    let root = SVGBackend::new(path, (960, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "majlis: latency against throughput (2 cores, server and harness together)",
            ("sans-serif", 20),
        )
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..x_max, (y_min..y_max).log_scale())
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("answered requests per second")
        .y_desc("latency, ms (log scale)")
        .draw()
        .map_err(|e| e.to_string())?;
    for (curve, colour) in curves.iter().zip(COLOURS.iter().cycle()) {
        let colour = *colour;
        let p99: Vec<(f64, f64)> = curve
            .points
            .iter()
            .map(|p| (p.throughput, p.p99_ms))
            .collect();
        let p50: Vec<(f64, f64)> = curve
            .points
            .iter()
            .map(|p| (p.throughput, p.p50_ms))
            .collect();
        chart
            .draw_series(LineSeries::new(p99.clone(), colour.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(format!("{} p99", curve.name))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], colour.stroke_width(2))
            });
        chart
            .draw_series(p99.iter().map(|&xy| Circle::new(xy, 3, colour.filled())))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(LineSeries::new(p50, colour.mix(0.5).stroke_width(1)))
            .map_err(|e| e.to_string())?
            .label(format!("{} p50", curve.name))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], colour.mix(0.5)));
        if let Some(half) = curve.half {
            chart
                .draw_series(std::iter::once(TriangleMarker::new(
                    (half.throughput, half.p99_ms),
                    7,
                    colour.filled(),
                )))
                .map_err(|e| e.to_string())?
                .label(format!(
                    "{} p99 at half the maximum (open loop): {:.2} ms",
                    curve.name, half.p99_ms
                ))
                .legend(move |(x, y)| TriangleMarker::new((x + 12, y), 6, colour.filled()));
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_an_svg_with_both_curves() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("plot.svg");
        let curve = |name: &str, scale: f64| Curve {
            name: name.into(),
            points: (0..5)
                .map(|i| Point {
                    throughput: 1000.0 * f64::from(i + 1),
                    p50_ms: scale * f64::from(i + 1),
                    p99_ms: scale * 3.0 * f64::from(i + 1),
                })
                .collect(),
            half: Some(Point {
                throughput: 2500.0,
                p50_ms: scale,
                p99_ms: scale * 2.0,
            }),
        };
        draw(&path, &[curve("reads", 0.2), curve("writes", 2.0)]).expect("draw");
        let svg = std::fs::read_to_string(&path).expect("svg");
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
        assert!(svg.contains("reads p99") && svg.contains("writes p99"));
        assert!(svg.contains("half the maximum"));
    }
}
