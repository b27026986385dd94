from .co_teaching import CoTeachingClassifier, co_teaching_select

__all__ = ['CoTeachingClassifier', 'co_teaching_select']
