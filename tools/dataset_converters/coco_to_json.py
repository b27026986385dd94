"""Convert a COCO instances JSON to a MultiLabelDataset JSON (optional).

``COCOMultiLabel`` reads the instances file directly; this small file
(~4 MB instead of ~330 MB for train2014) loads faster with the plain
``MultiLabelDataset``. Example::

    python tools/dataset_converters/coco_to_json.py \
        data/coco/annotations/instances_train2014.json \
        data/coco/annotations/multilabel_train2014.json --img-prefix train2014
"""
import argparse
import json
import os
import os.path as osp

from mmbmix.datasets.coco import parse_coco_instances


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('instances', help='instances_*.json')
    parser.add_argument('out_file', help='the MultiLabelDataset JSON')
    parser.add_argument(
        '--img-prefix', default='', help='prepended to each file_name')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    classes, entries = parse_coco_instances(args.instances)
    data_list = [
        dict(
            img_path=osp.join(args.img_prefix, e['img_path'])
            if args.img_prefix else e['img_path'],
            gt_label=e['gt_label']) for e in entries
    ]
    os.makedirs(osp.dirname(osp.abspath(args.out_file)), exist_ok=True)
    with open(args.out_file, 'w') as f:
        json.dump(
            dict(metainfo=dict(classes=list(classes)), data_list=data_list), f)
    print(f'{len(data_list)} images, {len(classes)} classes: '
          f'{args.out_file}')


if __name__ == '__main__':
    main()
