from .shot_group_map import ShotGroupAveragePrecision

__all__ = ['ShotGroupAveragePrecision']
