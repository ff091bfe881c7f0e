#!/bin/bash
echo "no directives, no modules"
