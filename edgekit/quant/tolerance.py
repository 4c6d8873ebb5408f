"""How much accuracy a quantized model may lose: absolute points (``0.5``) or relative percent (``"1%"``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tolerance:
    value: float
    relative: bool  # True: percent of the float accuracy; False: accuracy points (0..100 scale)

    @classmethod
    def parse(cls, spec: float | int | str) -> Tolerance:
        """``0.5`` or ``"0.5"`` -> 0.5 points; ``"1%"`` -> 1 % of the float accuracy. Raises ValueError."""
        text = str(spec).strip()
        relative = text.endswith("%")
        try:
            value = float(text.rstrip("%").strip())
        except ValueError:
            raise ValueError(
                f"must be accuracy points like 0.5 or a relative percent like '1%', got {spec!r}"
            ) from None
        if not 0 <= value <= 100:
            raise ValueError(f"must be between 0 and 100, got {spec!r}")
        return cls(value, relative)

    def drop_points(self, float_acc: float, quant_acc: float) -> float:
        """Accuracy lost, in points (accuracies are fractions 0..1)."""
        return (float_acc - quant_acc) * 100.0

    def allowed_points(self, float_acc: float) -> float:
        return self.value * float_acc if self.relative else self.value

    def met(self, float_acc: float, quant_acc: float) -> bool:
        # a hair of slack so 0.5 allowed and 0.5 measured (float rounding) counts as met
        return self.drop_points(float_acc, quant_acc) <= self.allowed_points(float_acc) + 1e-9

    def relative_loss(self, float_acc: float) -> float:
        """The same tolerance as INC's ``tolerable_loss``: a fraction of the float accuracy."""
        return self.allowed_points(float_acc) / 100.0 / max(float_acc, 1e-12)

    def __str__(self) -> str:
        return f"{self.value:g}%" if self.relative else f"{self.value:g} pt"
