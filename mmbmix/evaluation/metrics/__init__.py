from .shot_group_map import ShotGroupAveragePrecision, tercile_thresholds

__all__ = ['ShotGroupAveragePrecision', 'tercile_thresholds']
