package demo

import (
	"math/rand/v2"
	"strings"
)

var (
	surnames   = []rune("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董程曹袁邓许沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟段雷钱汤尹常武乔贺申牛暴李栗")
	givenNames = []string{
		"建国", "秀英", "桂兰", "玉兰", "志强", "国华", "海燕", "丽娟", "红梅", "文明", "淑芬", "永刚",
		"春花", "小军", "晓东", "卫东", "爱民", "建华", "金花", "凤英", "素珍", "长生", "福贵", "保平",
		"俊杰", "子涵", "浩然", "欣怡", "雨轩", "梓萱", "明", "军", "勇", "芳", "静", "敏", "伟", "磊",
		"丽", "强", "平", "刚", "霞", "燕", "鹏", "洁", "云", "峰", "兰", "英", "红", "亮", "斌", "娟",
	}
	villagePrefixes = []string{"", "", "", "东", "西", "南", "北", "前", "后", "上", "下", "大", "小", "新", "中"}
	villageCores    = []string{"王家", "李家", "张家", "赵家", "刘家", "陈家", "杨家", "郭家", "申家", "牛家", "常家", "石", "柳", "杏", "枣", "桃", "梨", "松", "柏", "槐", "榆", "马", "龙", "凤", "黄", "白", "安", "太平", "河", "泉", "井", "庙"}
	villageSuffixes = []string{"庄", "沟", "岭", "坡", "峪", "堡", "寨", "坪", "湾", "头", "店", "铺", "营", "掌", "垴", "庄"}
)

func personName(r *rand.Rand) string {
	return string(surnames[r.IntN(len(surnames))]) + givenNames[r.IntN(len(givenNames))]
}

// villageNames draws n distinct village names.
func villageNames(r *rand.Rand, n int) []string {
	seen := make(map[string]bool, n)
	out := make([]string, 0, n)
	for len(out) < n {
		var b strings.Builder
		b.WriteString(villagePrefixes[r.IntN(len(villagePrefixes))])
		b.WriteString(villageCores[r.IntN(len(villageCores))])
		b.WriteString(villageSuffixes[r.IntN(len(villageSuffixes))])
		b.WriteString("村")
		name := b.String()
		if seen[name] {
			continue
		}
		seen[name] = true
		out = append(out, name)
	}
	return out
}
